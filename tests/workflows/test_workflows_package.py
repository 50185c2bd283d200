"""The workflows package: public names, entry points, and the example inputs the README uses."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

from orchestrator import workflows
from orchestrator.engine.registry import Registry
from orchestrator.workflow import Workflow

ROOT = Path(__file__).parents[2]


def test_exported_members() -> None:
    assert workflows.__all__ == ["document_digest_workflow", "invoice_extraction_workflow",
                                 "ticket_triage_workflow"]
    assert all(isinstance(getattr(workflows, name), Workflow) for name in workflows.__all__)


def test_entry_points_load_the_exported_workflows() -> None:
    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    registry = Registry()
    for name, target in table["orchestrator.workflows"].items():
        module, _, attribute = target.partition(":")
        workflow = getattr(importlib.import_module(module), attribute)
        assert workflow.name == name
        assert workflow is getattr(workflows, f"{name}_workflow")
        registry.add_workflow(workflow)
    assert registry.workflow_names == ["document_digest", "invoice_extraction", "ticket_triage"]


def test_every_workflow_describes_its_inputs() -> None:
    for name in workflows.__all__:
        workflow: Workflow = getattr(workflows, name)
        assert len(workflow.description) > 40
        assert workflow.inputs and all(spec.description for spec in workflow.inputs.values())


def test_examples_exist() -> None:
    tickets = sorted(p.name for p in (ROOT / "examples" / "tickets").glob("*.txt"))
    assert "refund_request.txt" in tickets and len(tickets) >= 3
    assert len(list((ROOT / "examples" / "receipts").glob("*.txt"))) >= 2
    report = (ROOT / "examples" / "documents" / "support_operations_report.txt").read_text()
    assert 1300 <= len(report.split()) <= 1800
    refund = (ROOT / "examples" / "tickets" / "refund_request.txt").read_text()
    for needle in ("ORD-48213", "@example.com", "Maria Lindqvist", "AeroBrew 3000", "refund"):
        assert needle in refund
