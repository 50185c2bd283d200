"""route_ticket: the routing table decides team, priority, escalation and missing information."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.tools import RouteTicket
from orchestrator.tools.routing import RouteTicketInput, RouteTicketOutput, normalize

TABLE: dict[str, Any] = {
    "routes": {"billing": "billing_team", "refund": "billing_team", "technical_issue": "engineering"},
    "default_team": "general_support",
    "escalate_urgencies": ["critical"],
    "required_fields": {"refund": ["order_number"]},
}


def route(category: str, urgency: str = "normal", fields: dict[str, Any] | None = None,
          **table: Any) -> RouteTicketOutput:
    request = RouteTicketInput.model_validate(
        {**TABLE, **table, "category": category, "urgency": urgency, "fields": fields or {}})
    return RouteTicket().run(request)


@pytest.mark.parametrize(("urgency", "priority"), [("critical", "P1"), ("high", "P2"), ("normal", "P3"),
                                                   ("low", "P4"), ("whenever", "P3")])
def test_priority_from_urgency(urgency: str, priority: str) -> None:
    assert route("billing", urgency).priority == priority


def test_team_from_routes() -> None:
    out = route("refund", "high", {"order_number": "ORD-48213"})
    assert (out.team, out.priority, out.escalated, out.needs_info) == ("billing_team", "P2", False, [])
    assert out.reason == "category 'refund' routes to 'billing_team'; urgency 'high' gives P2."


def test_unknown_category_goes_to_default_team() -> None:
    out = route("shipping")
    assert out.team == "general_support"
    assert "no route" in out.reason


def test_labels_are_compared_loosely() -> None:
    assert route("Technical Issue", " CRITICAL ").team == "engineering"
    assert route("technical-issue").team == "engineering"
    assert normalize("  Account  Access ") == "account_access"


def test_escalation_keeps_the_team_unless_an_escalation_team_is_given() -> None:
    kept = route("technical_issue", "critical")
    assert (kept.team, kept.priority, kept.escalated) == ("engineering", "P1", True)
    moved = route("technical_issue", "critical", escalation_team="incident_response")
    assert moved.team == "incident_response"
    assert "escalated to 'incident_response'" in moved.reason


@pytest.mark.parametrize("value", [None, "", "  ", [], {}])
def test_missing_required_fields_are_listed(value: Any) -> None:
    out = route("refund", fields={"order_number": value, "email": "x@example.com"})
    assert out.needs_info == ["order_number"]
    assert out.reason.endswith("ask the customer for order_number.")


def test_custom_priorities() -> None:
    out = route("billing", "urgent", priorities={"urgent": "P1"}, default_priority="P4")
    assert out.priority == "P1"
    assert route("billing", "normal", priorities={"urgent": "P1"}, default_priority="P4").priority == "P4"


async def test_defaults_without_a_table() -> None:
    out = await RouteTicket()(RouteTicketInput(category="billing"))
    assert (out.team, out.priority, out.escalated) == ("general_support", "P3", False)
