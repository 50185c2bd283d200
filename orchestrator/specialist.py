"""What a specialist and a tool are: the two kinds of agent a plan step can name.

A **specialist** answers with a model: it builds a prompt, asks for output in
a schema, and checks the answer, scoring it with a ``confidence`` in [0, 1].
It makes *one* attempt on *one* model; the router decides which models to
try, repairs invalid answers once, and escalates on low confidence.

A **tool** is deterministic code (chunking, redaction, validation): no model.

Both declare typed ``Input`` and ``Output`` models; the planner sees their
names, descriptions and JSON schemas.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, Field, PydanticUserError, ValidationError

from orchestrator.errors import ConfigError, PluginError
from orchestrator.models.base import Capabilities, Completion, Message, Model, assistant, user
from orchestrator.models.json_answer import json_answer

InT = TypeVar("InT", bound=BaseModel)
OutT = TypeVar("OutT", bound=BaseModel)


class SpecialistConfig(BaseModel):
    """How a deployment runs one specialist."""

    cascade: list[str] = Field(default_factory=list)
    """Model names to try in order; empty means the deployment's default cascade."""
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    """Answers below this confidence escalate to the next model."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Specialist-specific options (validated by the specialist's ``Options`` model)."""


@dataclass
class Verdict:
    """A specialist's judgement of one answer."""

    output: BaseModel | None
    confidence: float = 0.0
    problems: list[str] = field(default_factory=list)
    """Validation errors; empty when the answer is valid."""
    raw: str = ""
    """What the model said, shown back to it on a repair attempt."""

    @property
    def valid(self) -> bool:
        return self.output is not None and not self.problems


class Agent(ABC, Generic[InT, OutT]):
    """What specialists and tools share: a name, a description, typed input and output."""

    name: ClassVar[str]
    description: ClassVar[str]
    Input: type[InT]
    Output: type[OutT]

    @classmethod
    def info(cls) -> AgentInfo:
        """What the planner and the interfaces show of this agent; an agent class that lacks a
        name, a description or pydantic ``Input``/``Output`` models is a :class:`PluginError`."""
        for attribute in ("name", "description"):
            if not isinstance(getattr(cls, attribute, None), str):
                raise PluginError(cls.__qualname__, f"set `{attribute}` to a string on the class")
        return AgentInfo(
            name=cls.name,
            kind="specialist" if issubclass(cls, Specialist) else "tool",
            description=cls.description,
            input_schema=_schema_of(cls, "Input"),
            output_schema=_schema_of(cls, "Output"),
        )


class AgentInfo(BaseModel):
    """What the planner, the CLI and the HTTP API show of an agent."""

    name: str
    kind: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]


class Specialist(Agent[InT, OutT]):
    """An agent that answers with a model. Subclasses set ``Input``/``Output`` and either
    implement :meth:`prompt` (and optionally :meth:`check`) or override :meth:`attempt`
    (which can call :meth:`ask` for the model call, repairs included)."""

    Options: ClassVar[type[BaseModel] | None] = None

    def __init__(self, config: SpecialistConfig | None = None):
        self.config = config or SpecialistConfig()
        self.options: Any = self._validate_options(self.Options) if self.Options else None

    def _validate_options(self, model: type[BaseModel]) -> BaseModel:
        """``config.options`` as ``model``; unknown keys and bad values raise a :class:`ConfigError`
        naming ``specialists.<name>.options.<key>`` (every problem, one per line)."""
        given, prefix = self.config.options, f"specialists.{self.name}.options"
        known = [*model.model_fields, *(f.alias for f in model.model_fields.values() if f.alias)]
        problems: list[tuple[str, str]] = []
        if model.model_config.get("extra") != "allow":
            for key in (k for k in given if k not in known):
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"options: {', '.join(known)}"
                problems.append((f"{prefix}.{key}", f"unknown option; {hint}"))
        try:
            options = model.model_validate(given)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                value = error.get("input")
                shown = f", got {value!r}" if isinstance(value, str | int | float | bool) else ""
                problems.append((".".join(map(str, (prefix, *error["loc"]))), error["msg"] + shown))
        else:
            if not problems:
                return options
        (key, reason), *rest = problems
        raise ConfigError(reason + "".join(f"\n{k}: {r}" for k, r in rest), key=key)

    # -- the one method the router calls --------------------------------

    async def attempt(self, request: InT, model: Model, *, instruction: str = "",
                      previous: Verdict | None = None) -> Verdict:
        """One answer from ``model``. With ``previous``, a repair: the model sees its last
        answer and what was wrong with it."""
        messages = self.prompt(request, instruction, model.capabilities)
        completion = await self.ask(model, messages, self.output_schema(request), previous)
        return self.check(request, completion)

    async def ask(self, model: Model, messages: list[Message], schema: dict[str, Any] | None,
                  previous: Verdict | None = None) -> Completion:
        """``messages`` to ``model``, answering in ``schema``; with ``previous``, a repair: the model
        also sees its last answer and what was wrong with it."""
        if previous is not None:
            messages = [*messages, assistant(previous.raw), user(self.repair_message(previous))]
        return await model.complete(messages, schema=schema, logprobs=model.capabilities.logprobs)

    # -- hooks ------------------------------------------------------------

    def prompt(self, request: InT, instruction: str, capabilities: Capabilities) -> list[Message]:
        raise NotImplementedError(f"{type(self).__name__} must implement prompt() or attempt()")

    def output_schema(self, request: InT) -> dict[str, Any] | None:
        return json_schema(self.Output)

    def check(self, request: InT, completion: Completion) -> Verdict:
        """Validate the answer against ``Output``; confidence 1.0 when valid."""
        return self.parse_output(completion)

    def repair_message(self, previous: Verdict) -> str:
        problems = "\n".join(f"- {p}" for p in previous.problems)
        return (f"Your answer was not valid:\n{problems}\n"
                "Answer again with only JSON that fixes these problems.")

    # -- helpers for subclasses ------------------------------------------

    def parse_output(self, completion: Completion, confidence: float = 1.0) -> Verdict:
        data = completion.parsed
        if data is None:
            try:
                data = json_answer(completion.text)
            except ValueError:
                return Verdict(None, 0.0, ["the answer is not valid JSON"], completion.text)
        try:
            output = self.Output.model_validate(data)
        except ValidationError as exc:
            problems = [f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in exc.errors()]
            return Verdict(None, 0.0, problems, completion.text)
        return Verdict(output, confidence, [], completion.text)


@functools.cache
def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema, built once per class (building it is costly; callers must not mutate it)."""
    return model.model_json_schema()


def _schema_of(agent: type[Agent[Any, Any]], role: str) -> dict[str, Any]:
    """The JSON schema of ``agent``'s ``Input`` or ``Output`` model; a :class:`PluginError` naming
    the agent when it is not a pydantic model or cannot be shown as a JSON schema."""
    model = getattr(agent, role, None)
    where = f"agent {agent.name!r} ({agent.__qualname__})"
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise PluginError(where, f"set `{role}` to a pydantic model class, got {model!r}")
    try:
        return json_schema(model)
    except PydanticUserError as exc:
        raise PluginError(where, f"{role} model {model.__name__} has no JSON schema: {exc.message}") from exc


class Tool(Agent[InT, OutT]):
    """A deterministic agent. Implement :meth:`run` (sync or async)."""

    @abstractmethod
    def run(self, request: InT) -> OutT | Awaitable[OutT]: ...

    async def __call__(self, request: InT) -> OutT:
        result = self.run(request)
        if inspect.isawaitable(result):
            return await result
        return result


__all__ = ["Agent", "AgentInfo", "Specialist", "SpecialistConfig", "Tool", "Verdict"]
