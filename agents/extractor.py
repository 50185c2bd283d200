"""The extractor specialist: fields out of a document, copied from it, never invented.

Two strategies (``Options.grounded``):

- **generative**: the model answers JSON for the field schema; each value must
  have its field's type and occur in the text, else the router's repair attempt
  shows the model exactly which values were wrong.
- **grounded** (default for models under 2B parameters): candidate spans of the
  text are found per field type (:mod:`orchestrator.agents._candidates`) and ranked by
  heuristics; the model only chooses among them, by log-likelihood where the
  backend can score (``Capabilities.scoring``), else through a schema whose fields are
  ``enum`` s of the candidates. Values are spans of the input by construction.
  When one candidate's heuristic prior leads the next by ``Options.decisive_margin``
  the model is not asked: its log-likelihood mostly measures length and
  familiarity, and a clear label (``TOTAL``, ``Invoice No:``, ``Contact:``)
  is better evidence than a 270M model's preference.

With ``Options.ranker_path`` (a span ranker trained by ``orchestrator train extractor``,
:mod:`orchestrator.agents._ranker`) the fields it knows are ranked by the learned model
instead of the priors, over candidates that include runs of adjacent lines; when its
calibrated confidence reaches ``Options.ranker_confidence`` the first span is taken,
otherwise the model chooses among the ranked spans (and a low confidence can escalate).
Without a ranker, or for fields it was not trained on, the hand-written priors rank.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError, field_validator

from orchestrator.agents._candidates import Kind, find_candidates, infer_kind, valid_for_kind
from orchestrator.agents._grounding import choose, normalise, occurs_in, parse_amount, softmax
from orchestrator.agents._ranker import SpanRanker, load_ranker
from orchestrator.errors import InputError
from orchestrator.logging import get_logger
from orchestrator.models.base import Capabilities, Completion, Message, Model, system, user
from orchestrator.models.json_answer import json_answer
from orchestrator.specialist import Specialist, Verdict

if TYPE_CHECKING:
    from orchestrator.agents._ranker_learner import RankerLearner

log = get_logger(__name__)
_M = TypeVar("_M", bound=BaseModel)

_SIMPLE_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "str": {"type": "string"},
    "text": {"type": "string"},
    "number": {"type": "number"},
    "float": {"type": "number"},
    "amount": {"type": "number"},
    "money": {"type": "number"},
    "integer": {"type": "integer"},
    "int": {"type": "integer"},
    "boolean": {"type": "boolean"},
    "bool": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "email": {"type": "string", "format": "email"},
}


class ExtractionExample(BaseModel):
    """A worked example: a short document and the fields it yields."""

    text: str
    data: dict[str, Any]


class ExtractorInput(BaseModel):
    """The document and the fields to extract from it."""

    text: str = Field(description="The document to extract from.")
    fields: dict[str, Any] = Field(
        description="The fields: a JSON schema (object with `properties`), or a mapping "
        '{field: type or description}, e.g. {"date": "date", "total": "number"}.'
    )
    required: list[str] = Field(
        default_factory=list,
        description="Fields that must be found (a JSON schema's own `required` counts too).",
    )
    examples: list[ExtractionExample] = Field(
        default_factory=list,
        description="Worked examples (a text and the data it yields), shown to generative models.",
    )

    @field_validator("fields", mode="before")
    @classmethod
    def _schema_of_a_model(cls, value: Any) -> Any:
        """A pydantic model class stands for its JSON schema: ``fields=Invoice``."""
        if isinstance(value, type) and issubclass(value, BaseModel):
            return value.model_json_schema()
        return value


class ExtractorOutput(BaseModel):
    """The extracted values."""

    data: dict[str, Any] = Field(description="Field -> value copied from the text; null where not found.")
    missing: list[str] = Field(default_factory=list, description="Required fields that were not found.")
    confidence: float = Field(ge=0.0, le=1.0, description="Share of required fields found and valid.")

    def to(self, model: type[_M]) -> _M:
        """The data as a validated ``model`` instance (``output.to(Invoice)``); an InputError says
        which fields do not fit."""
        try:
            return model.model_validate(self.data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'data'}: {e['msg']}" for e in exc.errors())
            raise InputError(f"the extracted data does not fit {model.__name__}: {problems}") from exc


class ExtractorOptions(BaseModel):
    """Deployment options of the extractor."""

    grounded: bool | Literal["auto"] = "auto"
    """Choose values among spans of the text; auto: on for models under 2B parameters."""
    max_candidates: int = Field(default=8, ge=1)
    """Candidate spans offered per field at most."""
    prior_weight: float = Field(default=3.0, ge=0.0)
    """How much the heuristic candidate ranking counts next to the model's log-likelihood (on Gemma 3
    270M, weight 1 let the model's length bias override good rankings; 3 keeps the heuristics in charge)."""
    max_examples: int = Field(default=3, ge=0)
    """Worked examples shown in a generative prompt at most."""
    decisive_margin: float | None = Field(default=1.0, ge=0.0)
    """Take the best candidate without asking the model when its prior leads the next one by at least
    this much (one label tier, e.g. a value on its ``Invoice No:`` line against an unlabelled one);
    None always asks the model."""
    ranker_path: str | None = None
    """A span ranker saved by ``orchestrator train extractor`` (JSON): it ranks the fields it was trained
    on (or fields of the same kind); None ranks every field by the hand-written priors."""
    ranker_confidence: float = Field(default=0.8, ge=0.0, le=1.0)
    """Take the ranker's first span without asking the model when its calibrated confidence reaches this."""


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field to extract, normalised from either input form."""

    name: str
    schema: dict[str, Any]
    kind: Kind
    required: bool

    @property
    def type(self) -> str:
        t = self.schema.get("type", "string")
        return str(next((x for x in t if x != "null"), "string") if isinstance(t, list) else t)

    @property
    def categorical(self) -> bool:
        """Values are categories (enum/boolean), not spans of the text."""
        return "enum" in self.schema or self.type == "boolean"


def field_specs(request: ExtractorInput) -> list[FieldSpec]:
    """The request's fields with their schema, kind and whether they are required."""
    fields = request.fields
    if isinstance(fields.get("properties"), dict):
        properties: dict[str, Any] = fields["properties"]
        required = set(request.required) | set(fields.get("required", []))
    else:
        properties, required = fields, set(request.required)
    if not properties:
        raise InputError("the extractor needs at least one field")
    definitions: dict[str, Any] = fields.get("$defs", {})
    specs: list[FieldSpec] = []
    for name, value in properties.items():
        if isinstance(value, dict):
            schema = _flatten(value, definitions)
        elif isinstance(value, str) and value.strip().lower() in _SIMPLE_TYPES:
            schema = dict(_SIMPLE_TYPES[value.strip().lower()])
        else:
            schema = {"type": "string", "description": str(value)}
        specs.append(FieldSpec(name, schema, infer_kind(name, schema), name in required))
    unknown = set(request.required) - {s.name for s in specs}
    if unknown:
        raise InputError(f"required fields not among the fields: {sorted(unknown)}")
    return specs


def _flatten(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """One field's schema with pydantic's indirections resolved: a ``$ref`` into ``$defs`` is
    inlined, and ``anyOf`` of one type and null (``float | None``) becomes ``type: [t, "null"]``."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = definitions.get(ref.removeprefix("#/$defs/"), {})
        schema = {**_flatten(target, definitions), **{k: v for k, v in schema.items() if k != "$ref"}}
    branches = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(branches, list):
        typed = [_flatten(b, definitions) for b in branches if isinstance(b, dict) and b.get("type") != "null"]
        nullable = len(typed) < len(branches)
        rest = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
        if len(typed) == 1:
            merged = {**typed[0], **rest}
            kind = merged.get("type", "string")
            if nullable and isinstance(kind, str):
                merged["type"] = [kind, "null"]
            return merged
        return {"type": "string", **rest}
    return dict(schema)


def data_schema(specs: list[FieldSpec], candidates: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The JSON schema of the answer; with ``candidates``, each grounded field is an enum of them."""
    properties: dict[str, Any] = {}
    for spec in specs:
        prop = {k: v for k, v in spec.schema.items() if k in ("description", "enum", "format")}
        if candidates is not None and spec.name in candidates:
            prop = {"enum": [*candidates[spec.name], None]}
        else:
            prop["type"] = [spec.type, "null"]
            if "enum" in prop:
                prop["enum"] = [*prop["enum"], None]
        properties[spec.name] = prop
    return {
        "type": "object",
        "properties": properties,
        "required": [s.name for s in specs],
        "additionalProperties": False,
    }


class Extractor(Specialist[ExtractorInput, ExtractorOutput]):
    """Extracts typed fields from a document, grounded in its text."""

    name: ClassVar[str] = "extractor"
    description: ClassVar[str] = (
        "Extract structured fields from a document. Inputs: `text`. Params: `fields` (a JSON schema object "
        'with properties, or a mapping {field: type or description}, e.g. {"date": "date", "total": '
        '"number", "company": "the seller\'s name"}) and optional `required` (list of field names). '
        "Returns `data` (field -> value copied from the text, null if absent), `missing` (required fields "
        "not found) and `confidence`. Values are never invented."
    )
    Input = ExtractorInput
    Output = ExtractorOutput
    Options: ClassVar[type[BaseModel] | None] = ExtractorOptions

    def grounded_on(self, model: Model) -> bool:
        """Whether answers on ``model`` are chosen among spans of the text."""
        option = self.options.grounded
        if option == "auto":
            size = model.capabilities.parameters_b
            return size is not None and size < 2
        return bool(option)

    async def attempt(
        self, request: ExtractorInput, model: Model, *, instruction: str = "", previous: Verdict | None = None
    ) -> Verdict:
        specs = field_specs(request)  # once per attempt: every pass below reads these
        grounded = self.grounded_on(model)
        log.debug(
            "extractor.attempt",
            model=model.ref,
            fields=len(specs),
            grounded=grounded,
            repair=previous is not None,
        )
        if grounded:
            return await self._grounded(request, specs, model, instruction, previous)
        schema = data_schema(specs)
        messages = self._messages(request, specs, instruction, schema, None)
        return self._check(request, specs, await self.ask(model, messages, schema, previous))

    # -- generative ----------------------------------------------------------------------

    def prompt(self, request: ExtractorInput, instruction: str, capabilities: Capabilities) -> list[Message]:
        specs = field_specs(request)
        return self._messages(request, specs, instruction, data_schema(specs), None)

    def output_schema(self, request: ExtractorInput) -> dict[str, Any]:
        return data_schema(field_specs(request))

    def check(self, request: ExtractorInput, completion: Completion) -> Verdict:
        return self._check(request, field_specs(request), completion)

    def _check(self, request: ExtractorInput, specs: list[FieldSpec], completion: Completion) -> Verdict:
        data = completion.parsed
        if data is None:
            try:
                data = json_answer(completion.text)
            except ValueError:
                return Verdict(None, 0.0, ["the answer is not valid JSON"], completion.text)
        if not isinstance(data, dict):
            return Verdict(None, 0.0, ["the answer must be a JSON object with one key per field"], completion.text)
        values, problems = self._validate(request.text, specs, data)
        return self._verdict(specs, values, problems, completion.text, None)

    def _validate(self, text: str, specs: list[FieldSpec], data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        values: dict[str, Any] = {}
        problems: list[str] = []
        for spec in specs:
            value = data.get(spec.name)
            if isinstance(value, str) and value.strip().lower() in ("", "null", "none", "n/a"):
                value = None
            values[spec.name] = value
            if value is None:
                continue
            if "enum" in spec.schema and value not in spec.schema["enum"]:
                problems.append(f"{spec.name}: {value!r} is not one of {spec.schema['enum']}")
            elif spec.type == "boolean":
                if not isinstance(value, bool):
                    problems.append(f"{spec.name}: must be true, false or null")
            elif spec.type in ("number", "integer"):
                amount = parse_amount(value)
                if amount is None:
                    problems.append(f"{spec.name}: {value!r} is not a number")
                else:
                    values[spec.name] = int(amount) if spec.type == "integer" and amount.is_integer() else amount
                    if not occurs_in(value, text) and not occurs_in(amount, text):
                        problems.append(self._not_in_text(spec.name, value))
            elif not valid_for_kind(value, spec.kind):
                problems.append(f"{spec.name}: {value!r} is not a valid {spec.kind}")
            elif not spec.categorical and not occurs_in(value, text):
                problems.append(self._not_in_text(spec.name, value))
        return values, problems

    @staticmethod
    def _not_in_text(field: str, value: Any) -> str:
        return f"value {value!r} for field {field!r} does not occur in the text; copy it exactly or use null"

    def _verdict(
        self,
        specs: list[FieldSpec],
        values: dict[str, Any],
        problems: list[str],
        raw: str,
        probabilities: dict[str, float] | None,
    ) -> Verdict:
        required = [s.name for s in specs if s.required]
        missing = [name for name in required if values.get(name) is None]
        found = (len(required) - len(missing)) / len(required) if required else 1.0
        if probabilities:
            counted = [probabilities[n] for n in (required or list(probabilities)) if n in probabilities]
            if counted:
                found *= sum(counted) / len(counted)
        confidence = max(0.0, min(1.0, found))
        if problems:
            return Verdict(None, 0.0, problems, raw)
        output = ExtractorOutput(data=values, missing=missing, confidence=confidence)
        return Verdict(output, confidence, [], raw)

    def _messages(
        self,
        request: ExtractorInput,
        specs: list[FieldSpec],
        instruction: str,
        schema: dict[str, Any],
        candidates: dict[str, list[str]] | None,
    ) -> list[Message]:
        lines = []
        for spec in specs:
            about = spec.schema.get("description", "")
            lines.append(
                f"- {spec.name} ({spec.type}{', required' if spec.required else ''})" + (f": {about}" if about else "")
            )
            if candidates and spec.name in candidates:
                lines.append("  choose one of: " + "; ".join(json.dumps(c) for c in candidates[spec.name]))
        intro = (
            "You extract fields from a document. Copy each value exactly as it is written in the "
            "document. If a field is not in the document, use null; never guess or invent values.\n"
            "Fields:\n" + "\n".join(lines)
        )
        if instruction:
            intro += f"\n\nTask: {instruction}"
        for example in request.examples[: self.options.max_examples]:
            intro += f"\n\nExample document:\n{example.text}\nJSON: {json.dumps(example.data)}"
        intro += f"\n\nAnswer with only JSON matching this schema: {json.dumps(schema)}"
        return [system(intro), user(f"Document:\n{request.text}\n\nJSON:")]

    # -- grounded ------------------------------------------------------------------------

    def ranker(self) -> SpanRanker | None:
        """The configured span ranker, read again when its file changes (a version ``distill`` promoted);
        None without one, or before the first distillation wrote it (the priors rank meanwhile)."""
        path = self.options.ranker_path
        return load_ranker(path) if path and os.path.exists(path) else None

    def learner(self, model: Model) -> RankerLearner:
        """What distillation fits for this extractor: its span ranker (``model`` is not needed)."""
        from orchestrator.agents._ranker_learner import RankerLearner

        return RankerLearner(self.options.ranker_path)

    def _candidates(
        self, text: str, specs: list[FieldSpec]
    ) -> tuple[dict[str, list[tuple[str, float]]], dict[str, float]]:
        """Each field's candidates (value, score) best first, and the ranker's calibrated confidence
        in the first for the fields the ranker ranked."""
        found: dict[str, list[tuple[str, float]]] = {}
        sure: dict[str, float] = {}
        ranker = self.ranker()
        limit = self.options.max_candidates
        for spec in specs:
            if spec.categorical:
                continue
            kind: Kind = (
                "number" if spec.type in ("number", "integer") and spec.kind not in ("money", "number") else spec.kind
            )
            hint = f"{spec.name} {spec.schema.get('description', '')}"
            if ranker is not None and ranker.model_for(spec.name, kind) is not None:
                ranking = ranker.rank(text, spec.name, kind, hint=str(spec.schema.get("description", "")))
                ranked = [(s.value, math.log(max(s.probability, 1e-12))) for s in ranking.spans
                          if valid_for_kind(s.value, kind)]
                found[spec.name], sure[spec.name] = ranked[:limit], ranking.confidence
                continue
            cands = find_candidates(text, kind, limit=limit, hint=hint)
            found[spec.name] = [(c.value, c.score) for c in cands if valid_for_kind(c.value, kind)]
        return found, sure

    async def _grounded(
        self,
        request: ExtractorInput,
        specs: list[FieldSpec],
        model: Model,
        instruction: str,
        previous: Verdict | None,
    ) -> Verdict:
        candidates, sure = self._candidates(request.text, specs)
        if model.capabilities.scoring and previous is None and not any(s.categorical for s in specs):
            return await self._grounded_by_choice(request, specs, model, candidates, sure)
        values_only = {name: [v for v, _ in cands] for name, cands in candidates.items()}
        schema = data_schema(specs, values_only)
        messages = self._messages(request, specs, instruction, schema, values_only)
        completion = await self.ask(model, messages, schema, previous)
        verdict = self._check(request, specs, completion)
        if verdict.valid:
            assert verdict.output is not None
            data: dict[str, Any] = verdict.output.model_dump()["data"]
            off = [
                f"{name}: {data[name]!r} is not one of the candidates {[*values_only[name], None]}"
                for name in values_only
                if data.get(name) is not None and not any(_same(data[name], c) for c in values_only[name])
            ]
            if off:
                return Verdict(None, 0.0, off, completion.text)
        return verdict

    async def _grounded_by_choice(
        self,
        request: ExtractorInput,
        specs: list[FieldSpec],
        model: Model,
        candidates: dict[str, list[tuple[str, float]]],
        sure: dict[str, float],
    ) -> Verdict:
        async def pick(spec: FieldSpec) -> tuple[str, Any, float | None]:
            cands = candidates.get(spec.name, [])
            if not cands:
                return spec.name, None, None
            confidence = sure.get(spec.name)
            if len(cands) == 1:
                return spec.name, cands[0][0], confidence
            if confidence is not None and confidence >= self.options.ranker_confidence:
                return spec.name, cands[0][0], confidence
            priors = [prior for _, prior in cands]
            margin = self.options.decisive_margin
            if confidence is None and margin is not None and priors[0] - max(priors[1:]) >= margin:
                return spec.name, cands[0][0], softmax([self.options.prior_weight * p for p in priors])[0]
            log.debug("extractor.unsure", field=spec.name, ranker_confidence=confidence, candidates=len(cands))
            about = spec.schema.get("description") or spec.name.replace("_", " ")
            prompt = f"{request.text}\n\nQuestion: what is the {about}?\nAnswer:"
            options = [f" {value}" for value, _ in cands]
            probs = await choose(model, prompt, options)
            model_logp = [math.log(max(probs[o], 1e-12)) for o in options] if probs else [0.0] * len(cands)
            combined = softmax(
                [lp + self.options.prior_weight * prior for lp, (_, prior) in zip(model_logp, cands, strict=True)]
            )
            best = max(range(len(cands)), key=combined.__getitem__)
            return spec.name, cands[best][0], combined[best]

        picks = await asyncio.gather(*(pick(spec) for spec in specs))
        raw = {name: value for name, value, _ in picks}
        probabilities = {name: p for name, value, p in picks if p is not None and value is not None}
        values, problems = self._validate(request.text, specs, raw)
        return self._verdict(specs, values, problems, json.dumps(raw), probabilities)


def _same(value: Any, candidate: str) -> bool:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return parse_amount(candidate) == float(value)
    return normalise(str(value)) == normalise(candidate)


__all__ = [
    "ExtractionExample",
    "Extractor",
    "ExtractorInput",
    "ExtractorOptions",
    "ExtractorOutput",
    "FieldSpec",
    "field_specs",
]
