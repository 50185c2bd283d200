"""The Plan: a small DAG of typed steps, the one representation every run executes.

A step's ``inputs`` hold literals or references. A reference is a string:

* ``$input.ticket``            a run input (``$input.ticket.subject`` reaches into it)
* ``$steps.classify``          a step's whole output
* ``$steps.classify.label``    a field of a step's output

References may sit anywhere inside lists and dicts. Dependencies are derived
from them, so a plan never states its edges twice. Validation happens on
construction; pass ``context={"catalog": names, "inputs": names}`` to
``Plan.model_validate`` to also check agent names and input names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, ValidationInfo, model_validator

from orchestrator.errors import PlanError

MAX_STEPS = 50
_STEP_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_REF = re.compile(r"^\$(input|steps)\.([A-Za-z0-9_-]+)((?:\.[A-Za-z0-9_-]+)*)$")


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed ``$input...`` or ``$steps...`` reference."""

    source: str  # "input" or "steps"
    name: str
    path: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Reference | None:
        match = _REF.match(text)
        if not match:
            return None
        path = tuple(p for p in match.group(3).split(".") if p)
        return cls(match.group(1), match.group(2), path)

    def __str__(self) -> str:
        return ".".join(("$" + self.source, self.name, *self.path))


def is_reference(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("$input.", "$steps."))


def references(value: Any) -> Iterator[Reference]:
    """Every reference inside ``value`` (nested lists and dicts included)."""
    if isinstance(value, str):
        ref = Reference.parse(value)
        if ref is not None:
            yield ref
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from references(item)


def _walk(value: Any, path: tuple[str, ...], origin: str) -> Any:
    for part in path:
        if isinstance(value, BaseModel):
            value = value.model_dump()
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise KeyError(f"{origin} has no field {part!r}")
    return value


def resolve(value: Any, inputs: Mapping[str, Any], outputs: Mapping[str, Any]) -> Any:
    """Replace every reference in ``value`` by what it points to."""
    if isinstance(value, str):
        ref = Reference.parse(value)
        if ref is None:
            return value
        source = inputs if ref.source == "input" else outputs
        if ref.name not in source:
            raise KeyError(f"{ref.source} {ref.name!r} is not available")
        return _walk(source[ref.name], ref.path, f"${ref.source}.{ref.name}")
    if isinstance(value, Mapping):
        return {k: resolve(v, inputs, outputs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, inputs, outputs) for v in value]
    return value


class Step(BaseModel):
    """One unit of work: an agent (specialist or tool) applied to inputs."""

    id: str = Field(description="Unique step id: letters, digits, '_' or '-', starting with a letter.")
    agent: str = Field(description="Name of a registered specialist or tool.")
    instruction: str = Field(default="", description="What this step should do, in one sentence.")
    inputs: dict[str, Any] = Field(
        default_factory=dict,
        description="Input fields: literals, or references like '$input.ticket' or '$steps.classify.label'.",
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Static parameters, e.g. {'labels': [...]} for a classifier."
    )

    @property
    def depends_on(self) -> set[str]:
        """Ids of the steps whose outputs this step reads."""
        return {r.name for r in references([self.inputs, self.params]) if r.source == "steps"}

    @property
    def input_names(self) -> set[str]:
        """Run inputs this step reads."""
        return {r.name for r in references([self.inputs, self.params]) if r.source == "input"}


class Plan(BaseModel):
    """A validated DAG of steps and the references that make up the answer."""

    goal: str = Field(description="The task this plan accomplishes.")
    steps: list[Step] = Field(description="The steps; each may reference run inputs and earlier steps.")
    output: dict[str, Any] = Field(
        default_factory=dict,
        description="The answer: names mapped to references such as '$steps.summarize.summary'. "
        "Empty means the outputs of the steps nothing else depends on.",
    )

    @model_validator(mode="after")
    def _validate(self, info: ValidationInfo) -> Plan:
        context = info.context if isinstance(info.context, Mapping) else {}
        problems = plan_problems(self, catalog=context.get("catalog"), inputs=context.get("inputs"),
                                 max_steps=context.get("max_steps", MAX_STEPS))
        if problems:
            raise PlanError(problems)
        return self

    @classmethod
    def parse(cls, data: Any, *, catalog: Sequence[str] | None = None,
              inputs: Sequence[str] | None = None, max_steps: int = MAX_STEPS) -> Plan:
        """Validate ``data`` (a dict or JSON text); every problem becomes a :class:`PlanError`."""
        from pydantic import ValidationError

        context = {"catalog": catalog, "inputs": inputs, "max_steps": max_steps}
        try:
            if isinstance(data, str | bytes):
                return cls.model_validate_json(data, context=context)
            return cls.model_validate(data, context=context)
        except PlanError:
            raise
        except ValidationError as exc:
            nested = [e.get("ctx", {}).get("error") for e in exc.errors()]
            plan_errors = [e for e in nested if isinstance(e, PlanError)]
            if plan_errors:
                raise plan_errors[0] from None
            raise PlanError([_describe(e) for e in exc.errors()]) from None

    @property
    def step_map(self) -> dict[str, Step]:
        return {s.id: s for s in self.steps}

    def topological_order(self) -> list[Step]:
        """Steps in an order where every step comes after its dependencies (stable)."""
        by_id = self.step_map
        done: set[str] = set()
        order: list[Step] = []
        remaining = list(self.steps)
        while remaining:
            ready = [s for s in remaining if s.depends_on <= done]
            order.extend(ready)
            done.update(s.id for s in ready)
            remaining = [s for s in remaining if s.id not in done]
            if not ready:  # pragma: no cover - validation rules out cycles
                raise PlanError([f"cycle among steps {sorted(by_id)}"])
        return order

    def answer_refs(self) -> dict[str, Any]:
        """The output mapping, defaulting to the steps nothing depends on."""
        if self.output:
            return self.output
        used = set().union(*(s.depends_on for s in self.steps)) if self.steps else set()
        return {s.id: f"$steps.{s.id}" for s in self.steps if s.id not in used}

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON schema a planner model is asked to fill."""
        return cls.model_json_schema()


def _describe(error: Any) -> str:
    location = ".".join(str(p) for p in error.get("loc", ())) or "plan"
    return f"{location}: {error.get('msg', 'invalid')}"


def _cycle(steps: list[Step]) -> list[str] | None:
    graph = {s.id: sorted(s.depends_on) for s in steps}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state and (found := visit(node)):
            return found
    return None


def plan_problems(plan: Plan, *, catalog: Sequence[str] | None = None,
                  inputs: Sequence[str] | None = None, max_steps: int = MAX_STEPS) -> list[str]:
    """Every rule the plan breaks, each phrased so a model can fix it."""
    problems: list[str] = []
    if not plan.steps:
        problems.append("the plan has no steps; add at least one step")
    if len(plan.steps) > max_steps:
        problems.append(f"the plan has {len(plan.steps)} steps; use at most {max_steps}")
    seen: set[str] = set()
    for step in plan.steps:
        if not _STEP_ID.match(step.id):
            problems.append(f"step id {step.id!r} must start with a letter and use only letters, "
                            "digits, '_' or '-' (at most 64 characters)")
        if step.id in seen:
            problems.append(f"step id {step.id!r} is used twice; give every step a unique id")
        seen.add(step.id)
        if catalog is not None and step.agent not in catalog:
            problems.append(f"step {step.id!r} uses unknown agent {step.agent!r}; "
                            f"choose one of: {', '.join(sorted(catalog))}")
    ids = {s.id for s in plan.steps}
    for step in plan.steps:
        problems.extend(_reference_problems(f"step {step.id!r}", [step.inputs, step.params], ids, inputs,
                                            own=step.id))
    problems.extend(_reference_problems("output", plan.output, ids, inputs, own=None))
    if len(ids) == len(plan.steps) and (cycle := _cycle(plan.steps)):
        problems.append("the steps form a cycle (" + " -> ".join(cycle) + "); a step may only "
                        "reference steps that do not depend on it")
    return problems


def _reference_problems(where: str, value: Any, ids: set[str], inputs: Sequence[str] | None,
                        own: str | None) -> list[str]:
    problems: list[str] = []
    for text in _strings(value):
        if not text.startswith("$"):
            continue
        ref = Reference.parse(text)
        if ref is None:
            if is_reference(text):
                problems.append(f"{where} has malformed reference {text!r}; write '$input.NAME' "
                                "or '$steps.STEP_ID.FIELD'")
            continue
        if ref.source == "steps" and ref.name == own:
            problems.append(f"{where} references itself ({text!r})")
        elif ref.source == "steps" and ref.name not in ids:
            problems.append(f"{where} references unknown step {ref.name!r} in {text!r}; "
                            f"existing steps: {', '.join(sorted(ids))}")
        elif ref.source == "input" and inputs is not None and ref.name not in inputs:
            known = ", ".join(sorted(inputs)) or "none"
            problems.append(f"{where} references unknown input {ref.name!r} in {text!r}; "
                            f"available inputs: {known}")
    return problems


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


__all__ = ["MAX_STEPS", "Plan", "Reference", "Step", "is_reference", "plan_problems", "references", "resolve"]
