"""Which part of a run's events is the assistant's message, while ``/v1/chat/completions`` streams.

The message of a chat completion is the run's rendered answer
(:func:`~orchestrator.interfaces.chat.render_answer`). When that answer is one
text field of one step (the plan's output maps one name to
``$steps.<id>.<field>`` and the step has no ``for_each``), the step's
``step.delta`` events *are* the message as it is generated: :class:`AnswerStream`
passes them on as content (after the ``<name>: `` the rendering starts with),
so the client sees the first words while the model is still writing.

Only the step's first draft is streamed. What the client has not received
when the run ends follows then: the rest of the answer when the answer begins
with what was streamed; otherwise (a repair or an escalation replaced the
draft, or the specialist cleaned it up) the whole final answer after a
``REVISED`` line, because content already sent cannot be taken back. Answers of
any other shape are sent whole at the end, as before.
"""

from __future__ import annotations

import re

from orchestrator.plan import Plan
from orchestrator.types import Event

REVISED = "\n\n[revised answer]\n"
"""Put before the final answer when it does not continue what was streamed."""
_FIELD = re.compile(r"^\$steps\.([A-Za-z0-9_-]+)\.[A-Za-z_][A-Za-z0-9_]*$")


class AnswerStream:
    """Follows one run's events and says what content to send now and at the end."""

    def __init__(self) -> None:
        self.step: str | None = None
        self.prefix = ""
        self.sent = ""
        self._draft: int | None = None
        self._live = True

    def feed(self, event: Event) -> str:
        """The content ``event`` adds to the assistant's message now (often nothing)."""
        if event.type == "plan.ready":
            self._follow(event)
        elif event.type == "step.delta" and event.step_id == self.step and self._live:
            draft = event.data.get("draft")
            if self._draft is None:
                self._draft = draft
                piece = self.prefix + str(event.data.get("text", ""))
            elif draft != self._draft:
                self._live = False  # a new draft: the final answer comes at the end
                return ""
            else:
                piece = str(event.data.get("text", ""))
            self.sent += piece
            return piece
        return ""

    def rest(self, answer: str) -> str:
        """What to send once the run has finished with the rendered ``answer``."""
        if answer.startswith(self.sent):
            return answer[len(self.sent):]
        return REVISED + answer

    def _follow(self, event: Event) -> None:
        if self.sent:  # a replan after the answer started: stop here, the end sends the rest
            self._live = False
            return
        try:
            plan = Plan.model_validate(event.data.get("plan") or {})
        except ValueError:
            return
        refs = plan.answer_refs()
        self.step = None
        if len(refs) != 1:
            return
        (name, ref), = refs.items()
        match = _FIELD.match(ref) if isinstance(ref, str) else None
        step = plan.step_map.get(match.group(1)) if match else None
        if step is not None and step.for_each is None:
            self.step, self.prefix = step.id, f"{name}: "


__all__ = ["REVISED", "AnswerStream"]
