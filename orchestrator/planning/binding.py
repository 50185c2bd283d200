"""Input binding for a routed request: which run input fills which workflow input.

In order: run inputs whose names the workflow declares; then, for the one required text input
still empty, the one text run input left over (``--input doc=@report.txt`` fills ``document``);
else the message's own payload (the text after ``triage this:``), else the whole message.
Context inputs the chat adds (``history``) are not workflow inputs and are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.errors import InputError
from orchestrator.workflow import Workflow

__all__ = ["CONTEXT_INPUTS", "bind_request"]

CONTEXT_INPUTS = frozenset({"history"})
"""Inputs the interfaces add for a planner's context, which no workflow declares."""


def bind_request(workflow: Workflow, inputs: Mapping[str, Any], payload: str | None,
                 message: str) -> dict[str, Any]:
    """The workflow's inputs for a routed request (checked and defaulted by ``workflow.bind``)."""
    given = {k: v for k, v in inputs.items() if k not in CONTEXT_INPUTS}
    bound = {k: v for k, v in given.items() if k in workflow.inputs}
    spare = {k: v for k, v in given.items() if k not in workflow.inputs}
    empty = [n for n, spec in workflow.inputs.items() if spec.required and n not in bound]
    if len(empty) == 1 and workflow.inputs[empty[0]].type is str:
        texts = [k for k, v in spare.items() if isinstance(v, str)]
        if len(texts) == 1:
            bound[empty[0]] = spare.pop(texts[0])
        elif not texts:
            bound[empty[0]] = payload if payload is not None else message
    if spare:
        raise InputError(f"the request was routed to workflow {workflow.name!r}, which has no input "
                         f"{', '.join(map(repr, sorted(spare)))}; its inputs are: {', '.join(workflow.inputs)}. "
                         "Name the inputs after the workflow's, or run the workflow by name")
    return workflow.bind(bound)
