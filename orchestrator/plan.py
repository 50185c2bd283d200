"""The Plan: a small DAG of typed steps, the one representation every run executes.

A step's ``inputs`` hold literals or references. A reference is a string:

* ``$input.ticket``            a run input (``$input.ticket.subject`` reaches into it)
* ``$steps.classify``          a step's whole output
* ``$steps.classify.label``    a field of a step's output
* ``$steps.parts.*.summary``   ``*`` takes the rest of the path from every item of a list
* ``$item``, ``$item.text``     the current item, inside a step with ``for_each``

A step with ``for_each`` (a reference to a list, e.g. ``$steps.chunk.chunks``)
is a fan-out: its agent runs once per item, the items concurrently, and its
output is the list of their outputs in item order.

References may sit anywhere inside lists and dicts. Dependencies are derived
from them, so a plan never states its edges twice. Validation happens on
construction; pass ``context={"catalog": names, "inputs": names}`` to
``Plan.model_validate`` to also check agent names and input names.
"""

from __future__ import annotations

import functools
import marshal
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from orchestrator.errors import PlanError, UnresolvedReference

MAX_STEPS = 50
MAX_DEPTH = 256
"""How deeply a step's inputs and params may nest lists and dicts."""
_STEP_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_REF = re.compile(r"^\$(?:(input|steps)\.([A-Za-z0-9_-]+)|(item))((?:\.(?:[A-Za-z0-9_-]+|\*))*)$")
EACH = "*"
"""The path part that maps the rest of a reference over every item of a list."""
NO_ITEM: Any = object()
"""``resolve``'s default ``item``: no ``$item`` outside a for_each step."""


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed ``$input...``, ``$steps...`` or ``$item...`` reference."""

    source: str  # "input", "steps" or "item"
    name: str  # "" for "item"
    path: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Reference | None:
        if not text.startswith("$"):  # most strings of a plan (labels, routing tables): no regex
            return None
        return _parsed(text)

    def __str__(self) -> str:
        return ".".join(("$" + self.source, *([self.name] if self.name else []), *self.path))


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> Reference | None:
    """A reference parsed once: every run of a plan resolves the same few (the result is frozen)."""
    match = _REF.match(text)
    if not match:
        return None
    path = tuple(p for p in match.group(4).split(".") if p)
    if match.group(3):
        return Reference("item", "", path)
    return Reference(match.group(1), match.group(2), path)


def is_reference(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("$input.", "$steps.", "$item"))


def references(value: Any) -> Iterator[Reference]:
    """Every reference inside ``value`` (nested lists and dicts included)."""
    for text in _strings(value):
        ref = Reference.parse(text)
        if ref is not None:
            yield ref


def _walk(value: Any, path: tuple[str, ...], origin: str, reference: str) -> Any:
    """``value`` at ``path``; ``origin`` is the part of ``reference`` walked so far (for messages)."""
    for position, part in enumerate(path):
        if isinstance(value, BaseModel):
            value = value.model_dump()
        if part == EACH:
            if not isinstance(value, list):
                raise UnresolvedReference(
                    reference, f"{origin} is a {type(value).__name__}, not a list, so '*' has no items to take")
            return [_walk(v, path[position + 1:], f"{origin}.{EACH}", reference) for v in value]
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise UnresolvedReference(reference, f"{origin} has no field {part!r}")
        origin = f"{origin}.{part}"
    return value


def resolve(value: Any, inputs: Mapping[str, Any], outputs: Mapping[str, Any], *, item: Any = NO_ITEM) -> Any:
    """Replace every reference in ``value`` by what it points to (``item`` is what ``$item`` means).

    A reference to something the run does not have raises :class:`UnresolvedReference` (a
    :class:`PlanError` and a ``KeyError``) naming the reference and the part that is missing.
    """
    if isinstance(value, str):
        ref = Reference.parse(value)
        if ref is None:
            return value
        if ref.source == "item":
            if item is NO_ITEM:
                raise UnresolvedReference(value, "'$item' is only available in a step with for_each")
            return _walk(item, ref.path, "$item", value)
        source = inputs if ref.source == "input" else outputs
        if ref.name not in source:
            what = "run input" if ref.source == "input" else "output of step"
            raise UnresolvedReference(value, f"{value!r} reads the {what} {ref.name!r}, which is not available")
        return _walk(source[ref.name], ref.path, f"${ref.source}.{ref.name}", value)
    if isinstance(value, Mapping):
        return {k: resolve(v, inputs, outputs, item=item) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, inputs, outputs, item=item) for v in value]
    return value


class Step(BaseModel):
    """One unit of work: an agent (specialist or tool) applied to inputs."""

    model_config = ConfigDict(frozen=True)

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
    for_each: str | None = Field(
        default=None,
        description="Fan-out: a reference to a list, e.g. '$steps.chunk.chunks'. The agent runs once per item, "
        "concurrently; in inputs '$item' is the current item ('$item.FIELD' a field of it). The step's output "
        "is the list of every run's output, in order: '$steps.ID.*.FIELD' is that field of each.",
    )

    @cached_property
    def _references(self) -> tuple[Reference, ...]:
        return tuple(references([self.inputs, self.params, self.for_each]))

    @cached_property
    def _arguments(self) -> tuple[dict[str, Any], bytes | None]:
        """Params with inputs over them, and the literal ones (no reference inside) marshalled
        (None when they hold something marshal cannot copy: then every call resolves them all)."""
        merged = {**self.params, **self.inputs}
        literal = {k: v for k, v in merged.items() if next(references(v), None) is None}
        try:
            return merged, marshal.dumps(literal)
        except ValueError:
            return merged, None

    def arguments(self, inputs: Mapping[str, Any], outputs: Mapping[str, Any], *,
                  item: Any = NO_ITEM) -> dict[str, Any]:
        """What the step's agent is called with: params, inputs over them, every reference resolved.

        Literal parts are fresh copies on every call (as ``resolve`` makes them; unmarshalled, a
        tenth of its cost for a plan's label lists and routing tables), so an agent that mutates its
        request never alters the plan, which every run of a workflow shares.
        """
        merged, blob = self._arguments
        if blob is None:
            resolved: dict[str, Any] = resolve(merged, inputs, outputs, item=item)
            return resolved
        literal = marshal.loads(blob)
        return {k: literal[k] if k in literal else resolve(v, inputs, outputs, item=item) for k, v in merged.items()}

    @property
    def reads_item(self) -> bool:
        """Whether the inputs or params use ``$item``."""
        return any(r.source == "item" for r in references([self.inputs, self.params]))

    @property
    def depends_on(self) -> frozenset[str]:
        """Ids of the steps whose outputs this step reads."""
        return frozenset(r.name for r in self._references if r.source == "steps")

    @property
    def input_names(self) -> frozenset[str]:
        """Run inputs this step reads."""
        return frozenset(r.name for r in self._references if r.source == "input")


class Plan(BaseModel):
    """A validated DAG of steps and the references that make up the answer (immutable)."""

    model_config = ConfigDict(frozen=True)

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

    @cached_property
    def step_map(self) -> dict[str, Step]:
        return {s.id: s for s in self.steps}

    @cached_property
    def _order(self) -> tuple[Step, ...]:
        return tuple(_kahn(self.steps))

    def topological_order(self) -> list[Step]:
        """Steps in an order where every step comes after its dependencies (stable)."""
        return list(self._order)

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


def _kahn(steps: Sequence[Step]) -> list[Step]:
    """Steps in dependency order, stable in listing order; steps on a cycle are left out."""
    ids = {s.id for s in steps}
    waiting = {s.id: len(s.depends_on & ids) for s in steps}
    dependants: dict[str, list[Step]] = {s.id: [] for s in steps}
    for step in steps:
        for dep in step.depends_on & ids:
            dependants[dep].append(step)
    position = {s.id: i for i, s in enumerate(steps)}
    ready = [s for s in steps if waiting[s.id] == 0]
    order: list[Step] = []
    while ready:
        ready.sort(key=lambda s: position[s.id], reverse=True)
        step = ready.pop()
        order.append(step)
        for nxt in dependants[step.id]:
            waiting[nxt.id] -= 1
            if waiting[nxt.id] == 0:
                ready.append(nxt)
    return order


def _cycle(steps: list[Step]) -> list[str] | None:
    """One cycle among ``steps`` as a closed path of ids, or None (iterative: any plan size)."""
    ordered = {s.id for s in _kahn(steps)}
    if len(ordered) == len(steps):
        return None
    ids = {s.id for s in steps}
    graph = {s.id: sorted(s.depends_on & ids) for s in steps if s.id not in ordered}
    node = next(iter(graph))
    path: list[str] = []
    seen: dict[str, int] = {}
    while node not in seen:  # every remaining node has a remaining dependency: walk until we loop
        seen[node] = len(path)
        path.append(node)
        node = next(d for d in graph[node] if d in graph)
    loop = path[seen[node]:]
    return [*loop, loop[0]]


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
    for step in plan.steps:
        if depth([step.inputs, step.params]) > MAX_DEPTH + 1:
            problems.append(f"step {step.id!r} nests its inputs deeper than {MAX_DEPTH} levels; flatten them")
    ids = {s.id for s in plan.steps}
    for step in plan.steps:
        problems.extend(_reference_problems(f"step {step.id!r}", [step.inputs, step.params, step.for_each], ids,
                                            inputs, own=step.id))
        problems.extend(_for_each_problems(step))
    problems.extend(_reference_problems("output", plan.output, ids, inputs, own=None))
    if any(r.source == "item" for r in references(plan.output)):
        problems.append("output references '$item', which exists only inside a step with for_each; reference "
                        "that step's list instead, e.g. '$steps.STEP_ID' or '$steps.STEP_ID.*.FIELD'")
    if len(ids) == len(plan.steps) and len(plan.steps) <= max_steps and (cycle := _cycle(plan.steps)):
        problems.append("the steps form a cycle (" + " -> ".join(cycle) + "); a step may only "
                        "reference steps that do not depend on it")
    return problems


def _for_each_problems(step: Step) -> list[str]:
    where = f"step {step.id!r}"
    if step.for_each is None:
        if step.reads_item:
            return [f"{where} uses '$item' but has no for_each; set for_each to the list to run over, "
                    "e.g. '$steps.chunk.chunks'"]
        return []
    ref = Reference.parse(step.for_each)
    if ref is None and not is_reference(step.for_each):  # malformed references are reported already
        return [f"{where} has for_each {step.for_each!r}; it must be a reference to a list, "
                "e.g. '$steps.chunk.chunks' or '$input.documents'"]
    if ref is not None and ref.source == "item":
        return [f"{where} has for_each {step.for_each!r}; '$item' exists only inside the step, so for_each "
                "must name a list from '$input' or '$steps'"]
    if not step.reads_item:
        return [f"{where} has for_each but never reads '$item'; pass the current item in its inputs, "
                "e.g. {'text': '$item'} or {'text': '$item.FIELD'}"]
    return []


def _reference_problems(where: str, value: Any, ids: set[str], inputs: Sequence[str] | None,
                        own: str | None) -> list[str]:
    problems: list[str] = []
    for text in _strings(value):
        if not text.startswith("$"):
            continue
        ref = Reference.parse(text)
        if ref is None:
            if is_reference(text):
                problems.append(f"{where} has malformed reference {text!r}; write '$input.NAME', "
                                "'$steps.STEP_ID.FIELD' or (with for_each) '$item.FIELD'")
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
    """Every string inside ``value``, walked with an explicit stack (no recursion limit)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, Mapping):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))


def depth(value: Any) -> int:
    """How deeply lists and dicts nest inside ``value`` (0 for a scalar)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, Mapping) else item if isinstance(item, list | tuple) else None
        if children is not None:
            deepest = max(deepest, level + 1)
            stack.extend((child, level + 1) for child in children)
    return deepest


__all__ = ["EACH", "MAX_STEPS", "Plan", "Reference", "Step", "is_reference", "plan_problems", "references",
           "resolve"]
