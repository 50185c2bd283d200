"""Python workflow definitions that compile to a :class:`~orchestrator.plan.Plan`.

::

    wf = Workflow("triage", "Classify and summarise a ticket", inputs={"ticket": Input(str)})
    kind = wf.step("kind", "classifier", text=wf.input.ticket, labels=["billing", "bug"])
    gist = wf.step("gist", "summarizer", text=wf.input.ticket)
    wf.output(category=kind.label, summary=gist.summary)
    plan = wf.compile()

``wf.input.NAME`` and ``step.FIELD`` are references; use ``step["FIELD"]``
for a field whose name is not a Python identifier.

A fan-out runs one agent over every item of a list, concurrently; ``wf.item``
is the current item and ``step["*"].FIELD`` collects a field from every run::

    parts = wf.step("parts", "chunk_text", text=wf.input.doc)
    gists = wf.step("gists", "summarizer", for_each=parts.chunks, text=wf.item)
    wf.step("joined", "join_texts", texts=gists["*"].summary)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.errors import InputError, PluginError
from orchestrator.plan import EACH, Plan, Step
from orchestrator.types import Sensitivity


class Ref:
    """A reference under construction: ``$input.x`` or ``$steps.id.field``."""

    __slots__ = ("_path",)

    def __init__(self, path: str):
        self._path = path

    def __getattr__(self, name: str) -> Ref:
        if name.startswith("__"):
            raise AttributeError(name)
        return Ref(f"{self._path}.{name}")

    def __getitem__(self, name: str | int) -> Ref:
        return Ref(f"{self._path}.{name}")

    def __str__(self) -> str:
        return self._path

    def __repr__(self) -> str:
        return f"Ref({self._path!r})"


class _Inputs:
    def __init__(self, workflow: Workflow):
        self._workflow = workflow

    def __getattr__(self, name: str) -> Ref:
        if name.startswith("__"):
            raise AttributeError(name)
        if name not in self._workflow.inputs:
            raise InputError(f"workflow {self._workflow.name!r} declares no input {name!r}")
        return Ref(f"$input.{name}")


@dataclass(frozen=True)
class Input:
    """A declared workflow input."""

    type: type = str
    description: str = ""
    required: bool = True
    default: Any = None
    sensitivity: Sensitivity | None = None
    """Overrides the deployment's default sensitivity for this input."""


def _plain(value: Any) -> Any:
    if isinstance(value, Ref):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass
class Workflow:
    """A named, reusable plan written in Python."""

    name: str
    description: str = ""
    inputs: dict[str, Input] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    """Requests this workflow answers, as users write them ("triage this ticket"): the task router
    (:mod:`orchestrator.planning`) matches free-form requests against them and the description."""
    _steps: list[Step] = field(default_factory=list, repr=False)
    _output: dict[str, Any] = field(default_factory=dict, repr=False)
    _compiled: tuple[tuple[Step, ...], tuple[Any, ...], Plan] | None = field(
        default=None, init=False, repr=False, compare=False)
    """The last compiled plan and what it was compiled from (a batch compiles once, not per run)."""

    def __post_init__(self) -> None:
        for name, spec in self.inputs.items():
            try:
                isinstance(None, spec.type)
            except TypeError:  # list[str], typing.Any, 5: bind could not check a value against it
                raise PluginError(f"workflow {self.name!r}", f"input {name!r} has type {spec.type!r}, which values "
                                  "cannot be checked against; use a class such as str, int, float, bool, list "
                                  "or dict") from None

    @property
    def input(self) -> _Inputs:
        return _Inputs(self)

    @property
    def item(self) -> Ref:
        """The current item inside a ``for_each`` step (``wf.item.FIELD`` for a field of it)."""
        return Ref("$item")

    def step(self, id: str, agent: str, *, instruction: str = "",
             params: Mapping[str, Any] | None = None, for_each: Ref | str | None = None, **inputs: Any) -> Ref:
        """Add a step; keyword arguments are its inputs (literals or references).

        With ``for_each`` (a reference to a list) the agent runs once per item, concurrently, and the
        step's output is the list of their outputs, in order.
        """
        self._steps.append(Step(id=id, agent=agent, instruction=instruction, inputs=_plain(inputs),
                                params=_plain(dict(params or {})),
                                for_each=None if for_each is None else str(for_each)))
        return Ref(f"$steps.{id}")

    def output(self, **refs: Any) -> None:
        """Name what the answer is made of."""
        self._output = _plain(refs)

    def compile(self, catalog: list[str] | None = None) -> Plan:
        """The workflow as a validated Plan (the same Plan object again while nothing changed:
        plans are immutable, so the runs of a batch share one)."""
        steps = tuple(self._steps)  # compared by identity (a Step is frozen), the rest by value
        key = (self.name, self.description, tuple(self.inputs), json.dumps(self._output, sort_keys=True, default=str),
               None if catalog is None else tuple(catalog))
        if self._compiled is not None:
            old_steps, old_key, compiled = self._compiled
            if old_key == key and len(old_steps) == len(steps) and all(
                    a is b for a, b in zip(old_steps, steps, strict=True)):
                return compiled
        plan = Plan.parse({"goal": self.description or self.name,
                           "steps": [s.model_dump() for s in self._steps],
                           "output": self._output},
                          catalog=catalog, inputs=list(self.inputs))
        self._compiled = (steps, key, plan)
        return plan

    def bind(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``values`` against the declared inputs; fill defaults; coerce simple types."""
        unknown = sorted(set(values) - set(self.inputs))
        if unknown:
            raise InputError(f"workflow {self.name!r} has no input {', '.join(map(repr, unknown))}; "
                             f"its inputs are: {', '.join(self.inputs) or 'none'}")
        bound: dict[str, Any] = {}
        for name, spec in self.inputs.items():
            if name in values:
                bound[name] = _coerce(self.name, name, spec, values[name])
            elif spec.required:
                what = spec.description or _type_name(spec.type)
                raise InputError(f"workflow {self.name!r} needs input {name!r} ({what}); "
                                 f"pass it with --input {name}=VALUE or --input {name}=@FILE")
            else:
                bound[name] = spec.default
        return bound


def _coerce(workflow: str, name: str, spec: Input, value: Any) -> Any:
    if isinstance(value, bool) and spec.type is not bool:
        raise InputError(f"workflow {workflow!r}: input {name!r} must be {_type_name(spec.type)}, got a boolean")
    if isinstance(value, spec.type):
        if spec.type is str and spec.required and not str(value).strip():
            raise InputError(f"workflow {workflow!r}: input {name!r} is empty")
        return value
    try:
        if spec.type in (int, float):
            return spec.type(value)
    except (TypeError, ValueError, OverflowError):
        pass
    raise InputError(f"workflow {workflow!r}: input {name!r} must be {_type_name(spec.type)}, "
                     f"got {type(value).__name__}")


def _type_name(kind: Any) -> str:
    """``str`` for a class, ``int | None`` for a union (which has no ``__name__``)."""
    return str(getattr(kind, "__name__", kind))


__all__ = ["EACH", "Input", "Ref", "Workflow"]
