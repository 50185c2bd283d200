"""invoice_extraction: extract, normalise, validate; the tool steps run on the extractor's output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from orchestrator.errors import InputError
from orchestrator.plan import Plan, resolve
from orchestrator.specialist import Tool
from orchestrator.tools.normalize import NormalizeFields
from orchestrator.tools.validation import ValidateJSON
from orchestrator.workflows import invoice_extraction_workflow
from orchestrator.workflows.invoice_extraction import INVOICE_SCHEMA

RECEIPTS = Path(__file__).parents[2] / "examples" / "receipts"


@pytest.fixture
def plan(catalog: list[str]) -> Plan:
    return invoice_extraction_workflow.compile(catalog=catalog)


def test_compiles_to_a_chain(plan: Plan) -> None:
    assert [(s.id, s.agent, s.depends_on) for s in plan.steps] == [
        ("extract", "extractor", set()),
        ("normalize", "normalize_fields", {"extract"}),
        ("validate", "validate_json", {"normalize"}),
    ]
    assert plan.output == {"fields": "$steps.normalize.data", "valid": "$steps.validate.valid",
                           "errors": "$steps.validate.errors"}


def test_one_schema_drives_every_step(plan: Plan) -> None:
    steps = plan.step_map
    assert steps["extract"].params == {"fields": INVOICE_SCHEMA, "required": ["vendor", "date", "total"]}
    assert steps["normalize"].params["schema"] == INVOICE_SCHEMA
    assert steps["validate"].params == {"schema": INVOICE_SCHEMA}
    assert set(INVOICE_SCHEMA["properties"]) == {"vendor", "date", "invoice_number", "total", "currency"}


def _run_tools(plan: Plan, extracted: dict[str, Any]) -> dict[str, Any]:
    """The normalize and validate steps on a given extractor answer; returns the plan's answer."""
    outputs: dict[str, Any] = {"extract": {"data": extracted, "missing": [], "confidence": 1.0}}
    document = (RECEIPTS / "hardware_invoice.txt").read_text()
    steps: list[tuple[str, Tool[Any, Any]]] = [("normalize", NormalizeFields()), ("validate", ValidateJSON())]
    for step_id, tool in steps:
        step = plan.step_map[step_id]
        request = tool.Input.model_validate(resolve({**step.params, **step.inputs}, {"document": document},
                                                    outputs))
        result = tool.run(request)
        assert isinstance(result, BaseModel)
        outputs[step_id] = result.model_dump()
    answer: dict[str, Any] = resolve(plan.output, {}, outputs)
    return answer


def test_values_copied_from_a_receipt_come_out_canonical_and_valid(plan: Plan) -> None:
    answer = _run_tools(plan, {"vendor": "NORTHWIND HARDWARE & TOOLS LTD", "date": "03/05/2024",
                               "invoice_number": "NW-INV-55012", "total": 335.38, "currency": "GBP"})
    assert answer == {
        "fields": {"vendor": "NORTHWIND HARDWARE & TOOLS LTD", "date": "2024-05-03",
                   "invoice_number": "NW-INV-55012", "total": 335.38, "currency": "GBP"},
        "valid": True,
        "errors": [],
    }


def test_euro_receipt_with_a_sign_and_a_comma(plan: Plan) -> None:
    answer = _run_tools(plan, {"vendor": "KAFFEEHAUS LINDENBLATT", "date": "14.03.2024",
                               "invoice_number": "2024-0187", "total": "10,90", "currency": "€"})
    assert answer["fields"]["date"] == "2024-03-14"
    assert answer["fields"]["total"] == 10.9
    assert answer["fields"]["currency"] == "EUR"
    assert answer["valid"] is True


def test_missing_and_unreadable_fields_are_reported(plan: Plan) -> None:
    answer = _run_tools(plan, {"vendor": "Northwind", "date": "sometime in May", "invoice_number": None,
                               "total": None, "currency": None})
    assert answer["valid"] is False
    assert answer["errors"] == ["date: 'sometime in May' is not a date as YYYY-MM-DD",
                                "total: expected number, got null"]


def test_extractor_input_validates(plan: Plan, specialist_inputs: dict[str, type[BaseModel]]) -> None:
    step = plan.step_map["extract"]
    document = (RECEIPTS / "cafe_receipt.txt").read_text()
    specialist_inputs["extractor"].model_validate(resolve({**step.params, **step.inputs},
                                                          {"document": document}, {}))


def test_bind_needs_the_document() -> None:
    with pytest.raises(InputError, match="document"):
        invoice_extraction_workflow.bind({})
    with pytest.raises(InputError, match="must be str"):
        invoice_extraction_workflow.bind({"document": 42})
