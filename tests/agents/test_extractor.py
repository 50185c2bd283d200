"""The extractor: generative with grounding checks, and grounded choice among spans of the text."""

from __future__ import annotations

import enum

import pytest
from pydantic import BaseModel, Field

from orchestrator.agents import Extractor
from orchestrator.agents.extractor import ExtractorInput, ExtractorOutput, field_specs
from orchestrator.errors import InputError
from orchestrator.models.base import Capabilities
from orchestrator.models.scripted import ScriptedModel
from orchestrator.specialist import SpecialistConfig

RECEIPT = """ACME TRADING
SDN BHD (123456-X)
12 JALAN MAJU, 50000 KUALA LUMPUR
TEL: 03-1234 5678
DATE: 14/03/2018 4:06PM
INVOICE NO: INV-20931
ITEM        QTY   AMOUNT
COFFEE       2     7.00
SUBTOTAL           7.00
GST 6%             0.42
TOTAL:
7.42
CASH              10.00
CHANGE             2.58
Contact: billing@acme.example
"""
FIELDS = {"company": "the seller's company name", "date": "date", "total": "number", "email": "email"}
SMALL = Capabilities(structured_output="grammar", parameters_b=0.27)


def request(**extra: object) -> ExtractorInput:
    return ExtractorInput.model_validate({"text": RECEIPT, "fields": FIELDS, "required": ["date", "total"],
                                          **extra})


def extractor(**options: object) -> Extractor:
    return Extractor(SpecialistConfig(options=dict(options)))


def test_fields_from_a_simple_mapping_and_from_a_json_schema() -> None:
    simple = {s.name: (s.type, s.kind, s.required) for s in field_specs(request())}
    assert simple["total"] == ("number", "money", True)
    assert simple["date"] == ("string", "date", True)
    assert simple["company"][1] == "company"
    schema = ExtractorInput.model_validate({"text": "x", "fields": {
        "type": "object", "properties": {"invoice_id": {"type": "string"}}, "required": ["invoice_id"]}})
    (spec,) = field_specs(schema)
    assert spec.required and spec.kind == "id"


async def test_generative_valid_answer_and_missing_optional_field_is_null() -> None:
    model = ScriptedModel([{"company": "ACME TRADING", "date": "14/03/2018", "total": "7.42", "email": None}])
    verdict = await extractor(grounded=False).attempt(request(), model)
    assert verdict.valid, verdict.problems
    assert isinstance(verdict.output, ExtractorOutput)
    assert verdict.output.data == {"company": "ACME TRADING", "date": "14/03/2018", "total": 7.42, "email": None}
    assert verdict.output.missing == []
    assert verdict.confidence == 1.0
    call = model.calls[0]
    assert call.schema is not None and call.schema["properties"]["total"]["type"] == ["number", "null"]
    assert '"total"' in call.prompt and "null" in call.prompt  # schema and the null rule are in the prompt


async def test_missing_required_field_lowers_confidence() -> None:
    model = ScriptedModel([{"company": None, "date": "14/03/2018", "total": None, "email": None}])
    verdict = await extractor(grounded=False).attempt(request(), model)
    assert isinstance(verdict.output, ExtractorOutput)
    assert verdict.output.missing == ["total"]
    assert verdict.confidence == pytest.approx(0.5)


async def test_invented_value_is_a_problem_and_the_repair_names_it() -> None:
    model = ScriptedModel([
        {"company": "Globex Corp", "date": "01/01/2020", "total": "99.99", "email": None},
        {"company": "ACME TRADING", "date": "14/03/2018", "total": 7.42, "email": "billing@acme.example"},
    ])
    spec = extractor(grounded=False)
    first = await spec.attempt(request(), model)
    assert not first.valid
    assert any("'Globex Corp' for field 'company' does not occur in the text" in p for p in first.problems)
    assert any("'99.99'" in p for p in first.problems)
    second = await spec.attempt(request(), model, previous=first)
    assert second.valid, second.problems
    assert "does not occur in the text; copy it exactly or use null" in model.calls[1].last_user


async def test_invalid_twice_and_type_errors() -> None:
    model = ScriptedModel(["nonsense", {"company": None, "date": "next tuesday", "total": "lots", "email": None}])
    spec = extractor(grounded=False)
    first = await spec.attempt(request(), model)
    second = await spec.attempt(request(), model, previous=first)
    assert first.problems == ["the answer is not valid JSON"]
    assert not second.valid
    assert any("is not a valid date" in p for p in second.problems)
    assert any("is not a number" in p for p in second.problems)


async def test_grounded_auto_is_on_for_small_models_only() -> None:
    assert extractor().grounded_on(ScriptedModel(capabilities=SMALL))
    assert not extractor().grounded_on(ScriptedModel(capabilities=Capabilities(parameters_b=7.0)))
    assert not extractor().grounded_on(ScriptedModel())  # size unknown


async def test_grounded_enum_schema_offers_only_spans_of_the_text() -> None:
    model = ScriptedModel([{"company": "ACME TRADING SDN BHD", "date": "14/03/2018", "total": "7.42",
                            "email": "billing@acme.example"}], capabilities=SMALL)
    verdict = await extractor().attempt(request(), model)
    assert verdict.valid, verdict.problems
    schema = model.calls[0].schema
    assert schema is not None
    for name, prop in schema["properties"].items():
        offered = [v for v in prop["enum"] if v is not None]
        assert offered, name
        assert all(v.replace(" ", "") in RECEIPT.replace(" ", "").replace("\n", "") for v in offered)
    assert schema["properties"]["total"]["enum"][0] == "7.42"  # the amount after TOTAL ranks first
    assert schema["properties"]["date"]["enum"][0] == "14/03/2018"


async def test_grounded_rejects_an_invented_value() -> None:
    model = ScriptedModel([{"company": "ACME TRADING", "date": "14/03/2018", "total": "100.00", "email": None},
                           {"company": None, "date": "14/03/2018", "total": "7.42", "email": None}],
                          capabilities=SMALL)
    spec = extractor()
    first = await spec.attempt(request(), model)
    assert not first.valid
    assert any("100.00" in p for p in first.problems)
    second = await spec.attempt(request(), model, previous=first)
    assert second.valid
    assert "100.00" in model.calls[1].last_user


class Scorer(ScriptedModel):
    """Scores options by log-likelihood, slightly preferring the last one; records each question."""

    def __init__(self) -> None:
        super().__init__(capabilities=SMALL)
        self.questions: list[str] = []

    async def choose(self, prompt: str, options: list[str]) -> dict[str, float]:
        self.questions.append(prompt.rsplit("Question: ", 1)[-1])
        return {o: (-1.0 if i == len(options) - 1 else -1.2) for i, o in enumerate(options)}


async def test_grounded_choice_by_log_likelihood_combines_with_the_ranking() -> None:
    model = Scorer()
    verdict = await extractor(decisive_margin=None).attempt(request(), model)
    assert isinstance(verdict.output, ExtractorOutput)
    data = verdict.output.data
    assert data["total"] == pytest.approx(7.42)  # the model's mild preference does not beat the ranking
    assert data["date"] == "14/03/2018"
    assert data["email"] == "billing@acme.example"
    assert 0.0 < verdict.confidence < 1.0
    assert any("total" in q for q in model.questions)  # the model was asked
    assert model.calls == []  # no generation, only scoring


async def test_a_decisive_prior_takes_the_best_span_without_asking_the_model() -> None:
    asked, decided = Scorer(), Scorer()
    await extractor(decisive_margin=None).attempt(request(), asked)
    verdict = await extractor(decisive_margin=1.0).attempt(request(), decided)
    assert isinstance(verdict.output, ExtractorOutput)
    assert verdict.output.data["total"] == pytest.approx(7.42)
    assert any("total" in q for q in asked.questions)
    assert not any("total" in q for q in decided.questions)  # TOTAL's label leads every other amount
    assert len(decided.questions) < len(asked.questions)


async def test_grounded_field_without_candidates_is_null_not_invented() -> None:
    model = ScriptedModel([{"date": None}], capabilities=SMALL)
    req = ExtractorInput.model_validate({"text": "no dates here at all", "fields": {"date": "date"},
                                         "required": ["date"]})
    verdict = await extractor().attempt(req, model)
    assert isinstance(verdict.output, ExtractorOutput)
    assert verdict.output.data == {"date": None}
    assert verdict.output.missing == ["date"]
    assert verdict.confidence == 0.0


class Receipt(BaseModel):
    company: str | None = Field(default=None, description="the seller's company name")
    date: str = Field(description="date of the receipt")
    total: float = Field(description="the total amount paid")
    email: str | None = None


def test_a_pydantic_model_gives_the_fields_with_optional_types_and_required_ones() -> None:
    specs = {s.name: s for s in field_specs(ExtractorInput(text=RECEIPT, fields=Receipt))}  # type: ignore[arg-type]
    assert specs["total"].type == "number" and specs["total"].kind == "money" and specs["total"].required
    assert specs["company"].type == "string" and specs["company"].schema["type"] == ["string", "null"]
    assert not specs["company"].required and specs["date"].required and specs["date"].kind == "date"


def test_schema_refs_and_enums_from_pydantic_are_resolved() -> None:
    class Priority(enum.Enum):
        LOW = "low"
        HIGH = "high"

    class Ticket(BaseModel):
        priority: Priority | None = None

    (spec,) = field_specs(ExtractorInput(text="x", fields=Ticket))  # type: ignore[arg-type]
    assert spec.schema["enum"] == ["low", "high"] and spec.categorical


async def test_extracted_data_becomes_a_validated_model_instance() -> None:
    model = ScriptedModel([{"company": "ACME TRADING", "date": "14/03/2018", "total": "7.42", "email": None}])
    req = ExtractorInput(text=RECEIPT, fields=Receipt)  # type: ignore[arg-type]
    verdict = await extractor(grounded=False).attempt(req, model)
    assert isinstance(verdict.output, ExtractorOutput)
    receipt = verdict.output.to(Receipt)
    assert receipt == Receipt(company="ACME TRADING", date="14/03/2018", total=7.42)
    with pytest.raises(InputError, match="does not fit Receipt: total"):
        ExtractorOutput(data={"date": "x", "total": None}, confidence=0.5).to(Receipt)


async def test_worked_examples_appear_in_a_generative_prompt() -> None:
    model = ScriptedModel([{"company": None, "date": "14/03/2018", "total": 7.42, "email": None}])
    example = {"text": "SHOP X\nDATE 01/02/2020\nTOTAL 3.50", "data": {"date": "01/02/2020", "total": 3.5}}
    await extractor(grounded=False).attempt(request(examples=[example]), model)
    assert "Example document:\nSHOP X" in model.calls[0].prompt
    assert '"total": 3.5' in model.calls[0].prompt


async def test_generative_answer_in_fences_or_prose_is_read_by_the_shared_json_parser() -> None:
    data = '{"company": "ACME TRADING", "date": "14/03/2018", "total": "7.42", "email": null}'
    for text in (f"```json\n{data}\n```", f"Here are the fields: {data} Let me know!"):
        verdict = await extractor(grounded=False).attempt(request(), ScriptedModel([text]))
        assert verdict.valid, verdict.problems
        assert verdict.output is not None and verdict.output.data["total"] == 7.42  # type: ignore[attr-defined]


@pytest.mark.parametrize("grounded", [False, True])
async def test_field_specs_are_computed_once_per_attempt(grounded: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.agents import extractor as module

    calls: list[ExtractorInput] = []

    def counted(request: ExtractorInput) -> list[module.FieldSpec]:
        calls.append(request)
        return field_specs(request)

    monkeypatch.setattr(module, "field_specs", counted)
    model = ScriptedModel([{"company": "Nobody", "date": None, "total": None, "email": None},
                           {"company": None, "date": "14/03/2018", "total": "7.42", "email": None}],
                          capabilities=SMALL if grounded else Capabilities())
    spec = extractor(grounded=grounded)
    first = await spec.attempt(request(), model)
    second = await spec.attempt(request(), model, previous=first)
    assert not first.valid and second.valid, second.problems
    assert len(calls) == 2  # one per attempt, the repair included
    by_choice = await spec.attempt(request(), Scorer()) if grounded else None
    assert by_choice is None or by_choice.valid
    assert len(calls) == (3 if grounded else 2)
