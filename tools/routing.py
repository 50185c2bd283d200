"""Route a classified ticket to a team with a priority, by a table rather than a model.

The decision, in order:

1. ``team`` = ``routes[category]``, else ``default_team``. Category names are
   compared case-insensitively, with spaces and dashes read as underscores.
2. ``priority`` = ``priorities[urgency]`` (default critical P1, high P2,
   normal P3, low P4), else ``default_priority``.
3. An urgency listed in ``escalate_urgencies`` sets ``escalated`` and, when an
   ``escalation_team`` is given, sends the ticket there instead.
4. ``needs_info`` lists the fields ``required_fields[category]`` asks for that
   the extraction did not find, so an agent knows what to ask the customer.
5. A ticket with ``suspected_injection`` (sentences addressed to the system, see
   ``orchestrator.tools.injection``) is never escalated automatically: its urgency may be what
   the injected text asked for. It keeps its team (or goes to ``review_team``, when given) and
   ``review`` asks a person to read it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from orchestrator.specialist import Tool

Priority = Literal["P1", "P2", "P3", "P4"]
DEFAULT_PRIORITIES: dict[str, Priority] = {"critical": "P1", "high": "P2", "normal": "P3", "low": "P4"}


def normalize(label: str) -> str:
    """``"Technical Issue"`` -> ``"technical_issue"``."""
    return "_".join(label.strip().lower().replace("-", " ").split())


class RouteTicketInput(BaseModel):
    """What :class:`RouteTicket` reads: the classification, and the routing table as params."""

    category: str = Field(description="The ticket's category, e.g. '$steps.category.label'.")
    urgency: str = Field(default="normal", description="The ticket's urgency: low, normal, high or critical.")
    fields: dict[str, Any] = Field(default_factory=dict,
                                   description="Extracted fields, e.g. '$steps.fields.data' (optional).")
    routes: dict[str, str] = Field(default_factory=dict, description="Category -> team.")
    default_team: str = Field(default="general_support", description="Team for categories not in routes.")
    priorities: dict[str, Priority] = Field(default_factory=lambda: dict(DEFAULT_PRIORITIES),
                                            description="Urgency -> priority (P1 is most urgent).")
    default_priority: Priority = Field(default="P3", description="Priority for urgencies not in priorities.")
    escalate_urgencies: list[str] = Field(default_factory=lambda: ["critical"],
                                          description="Urgencies that escalate the ticket.")
    escalation_team: str | None = Field(default=None,
                                        description="Team escalated tickets go to (default: keep the team).")
    suspected_injection: bool = Field(default=False, description=(
        "True when the ticket held sentences addressed to the system (e.g. '$steps.screen.suspected_injection'): "
        "no automatic escalation, and review is set."))
    review_team: str | None = Field(default=None, description=(
        "Team that reads tickets with suspected injection (default: keep the routed team)."))
    required_fields: dict[str, list[str]] = Field(
        default_factory=dict, description="Category -> fields a ticket of that category needs, e.g. "
        "{'refund': ['order_number']}; missing ones are listed in needs_info.")


class RouteTicketOutput(BaseModel):
    """Where the ticket goes and why."""

    team: str = Field(description="The team that should handle the ticket.")
    priority: Priority = Field(description="P1 (most urgent) to P4.")
    escalated: bool = Field(description="True when the urgency is one that escalates.")
    needs_info: list[str] = Field(description="Fields the category needs that the ticket did not give.")
    review: bool = Field(default=False, description="A person should read the ticket before acting on it "
                                                    "(it held suspected injected instructions).")
    reason: str = Field(description="The decision in one sentence.")


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str | list | dict):
        return bool(value.strip() if isinstance(value, str) else value)
    return True


def route(request: RouteTicketInput) -> RouteTicketOutput:
    """Apply the routing table in ``request`` (see the module docstring)."""
    category, urgency = normalize(request.category), normalize(request.urgency)
    routes = {normalize(k): v for k, v in request.routes.items()}
    priorities = {normalize(k): v for k, v in request.priorities.items()}
    team = routes.get(category, request.default_team)
    reasons = [f"category {category!r} " + ("routes to" if category in routes else "has no route; default")
               + f" {team!r}"]
    priority = priorities.get(urgency, request.default_priority)
    reasons.append(f"urgency {urgency!r} gives {priority}")
    escalated = urgency in {normalize(u) for u in request.escalate_urgencies} and not request.suspected_injection
    if request.suspected_injection:
        team = request.review_team or team
        reasons.append(f"suspected injected instructions: not escalated automatically; {team!r} reviews it")
    if escalated:
        if request.escalation_team:
            team = request.escalation_team
        reasons.append(f"escalated to {team!r}")
    required = {normalize(k): v for k, v in request.required_fields.items()}.get(category, [])
    needs_info = [name for name in required if not _present(request.fields.get(name))]
    if needs_info:
        reasons.append(f"ask the customer for {', '.join(needs_info)}")
    return RouteTicketOutput(team=team, priority=priority, escalated=escalated, needs_info=needs_info,
                             review=request.suspected_injection, reason="; ".join(reasons) + ".")


class RouteTicket(Tool[RouteTicketInput, RouteTicketOutput]):
    """Deterministic ticket routing from category and urgency."""

    name = "route_ticket"
    description = (
        "Decide which team handles a support ticket and its priority, from its category and urgency "
        "(for example the labels of two classifier steps) and optionally the extracted fields. The "
        "routing table comes in params: routes ({category: team}), default_team, escalate_urgencies, "
        "escalation_team, required_fields ({category: [field, ...]}). Returns team, priority (P1..P4), "
        "escalated, needs_info (required fields that are missing) and reason. Deterministic, no model."
    )
    Input = RouteTicketInput
    Output = RouteTicketOutput

    def run(self, request: RouteTicketInput) -> RouteTicketOutput:
        return route(request)


__all__ = ["DEFAULT_PRIORITIES", "Priority", "RouteTicket", "RouteTicketInput", "RouteTicketOutput",
           "normalize", "route"]
