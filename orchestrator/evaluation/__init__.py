"""Evaluation: run a workflow or one specialist over labelled data and measure it.

::

    async with Orchestrator() as orch:
        report = await orch.evaluate("ticket_triage", "examples/eval/tickets.jsonl",
                                     expect=["category=category", "urgency=urgency"], target_accuracy=0.95)
        print(report.field("category").accuracy, report.thresholds)

Per expected field: accuracy (normalised or exact match, ROUGE for summaries), the share answered
locally, remotely or not at all, the accuracy of the local answers alone, the local model's
risk-coverage curve and calibration, and for labels a confusion summary; per run: cost against
the all-large-model baseline, latency percentiles and errors. ``orchestrator eval`` is the
command line; :mod:`~orchestrator.evaluation.html` writes the self-contained report page and
:mod:`~orchestrator.evaluation.thresholds` writes measured thresholds into a configuration file.
"""

from orchestrator.evaluation.dataset import METRICS, Case, ColumnMap, Expectation, Metric, read_cases
from orchestrator.evaluation.metrics import ROUGE_PASS, Rouge, matches, normalise, percentile, rouge
from orchestrator.evaluation.outcome import FieldOutcome, ItemScore
from orchestrator.evaluation.report import Calibration, EvalReport, FieldReport
from orchestrator.evaluation.runner import Dataset, EvalOptions, evaluate

__all__ = ["METRICS", "ROUGE_PASS", "Calibration", "Case", "ColumnMap", "Dataset", "EvalOptions", "EvalReport",
           "Expectation", "FieldOutcome", "FieldReport", "ItemScore", "Metric", "Rouge", "evaluate", "matches",
           "normalise", "percentile", "read_cases", "rouge"]
