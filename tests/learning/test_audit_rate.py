"""The audit rate steps down once the local model proves itself ([learning] audit_min), and an
audit's cost is reported on the step it audited and in the run's cost report."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis.asyncio as aioredis
from pydantic import ValidationError

from orchestrator.keys import KeySpace
from orchestrator.learning import AuditRate
from orchestrator.models import ScriptedModel
from orchestrator.settings import LearningSettings
from tests.learning.deployment import CLASSIFY
from tests.learning.test_audit import NEW, distilled


def test_the_rate_steps_down_after_agreeing_audits_and_back_up_when_they_stop() -> None:
    rates = AuditRate.from_settings(LearningSettings(audit_rate=0.1, audit_min=0.02, audit_proof=4,
                                                     audit_agreement=0.75))
    assert rates.rate == 0.1
    for agreed in (True, False, True):
        rates.record(agreed)
    assert rates.rate == 0.1  # three audits are not yet the four that prove it
    rates.record(True)
    assert rates.proved and rates.rate == 0.02  # 3 of the last 4 agree: 0.75
    rates.record(False)
    assert not rates.proved and rates.rate == 0.1  # the last 4: True, True, False... 2 of 4
    for _ in range(3):
        rates.record(True)
    assert rates.rate == 0.02
    never = AuditRate.from_settings(LearningSettings(audit_rate=0.1, audit_proof=1))
    never.record(True)
    assert never.rate == 0.1  # no audit_min: it never steps down


def test_audit_min_above_the_rate_is_refused_saying_what_to_change() -> None:
    with pytest.raises(ValidationError, match=r"audit_min .* must not exceed audit_rate"):
        LearningSettings(audit_rate=0.05, audit_min=0.1)
    with pytest.raises(ValueError, match=r"0 <= low <= high <= 1"):
        AuditRate(0.05, 0.1)


async def test_the_deployment_stops_auditing_once_its_audits_agree(tmp_path: Path) -> None:
    """audit_rate 1 stepping down to 0 after 2 agreeing audits: the third local answer is not audited."""
    orch = await distilled(tmp_path, [{"label": "shipping"}, {"label": "shipping"}, {"label": "shipping"}],
                           audit_rate=1.0, audit_min=0.0, audit_proof=2, audit_agreement=1.0)
    teacher = orch.pool.client("big")
    assert isinstance(teacher, ScriptedModel)
    before = len(teacher.calls)
    for _ in range(3):
        await orch.run(CLASSIFY, {"text": NEW[0]})
    assert len(teacher.calls) - before == 2
    rates = orch.learning.collector.auditor.rate("classifier")  # type: ignore[union-attr]
    assert rates.proved and rates.rate == 0.0
    kept = [e for e in await orch.learning.store.examples("classifier") if e.audit is not None]
    assert [e.audit.rate for e in kept if e.audit] == [1.0]  # one input, audited at 1.0 (kept once)
    await orch.aclose()


async def test_an_audit_cost_is_on_its_step_and_in_the_run_cost_report(tmp_path: Path) -> None:
    orch = await distilled(tmp_path, [{"label": "shipping"}], audit_rate=1.0, price=1_000_000.0)  # $1 a token
    teacher = orch.pool.client("big")
    assert isinstance(teacher, ScriptedModel)
    before = len(teacher.calls)
    run = await orch.run(CLASSIFY, {"text": NEW[0]})  # the run's record waits for its audit
    step = run.step("c")
    assert len(teacher.calls) - before == 1 and step.model == "scripted:small" and not step.escalated
    assert step.cost_usd == 0.0  # answering was local and free
    assert step.audit_usage.total_tokens > 0
    assert step.audit_cost_usd == pytest.approx(float(step.audit_usage.total_tokens))
    assert run.cost.audit_cost_usd == step.audit_cost_usd
    assert run.cost.cost_usd == pytest.approx(step.audit_cost_usd)  # what the run spent includes the check
    assert run.cost.usage.total_tokens == step.usage.total_tokens + step.audit_usage.total_tokens
    unaudited = await distilled(tmp_path / "off", [], price=1_000_000.0)
    quiet = await unaudited.run(CLASSIFY, {"text": NEW[0]})
    assert quiet.step("c").audit_cost_usd == 0.0 and quiet.cost.audit_cost_usd == 0.0 == quiet.cost.cost_usd
    await orch.aclose()
    await unaudited.aclose()


async def test_a_failed_audit_still_reports_what_it_spent(tmp_path: Path) -> None:
    orch = await distilled(tmp_path, ["not json at all", "still not json"], audit_rate=1.0, price=1_000_000.0)
    run = await orch.run(CLASSIFY, {"text": NEW[0]})
    step = run.step("c")
    assert step.output["label"] == "shipping" and step.model == "scripted:small"
    assert step.audit_cost_usd > 0 and run.cost.audit_cost_usd == step.audit_cost_usd
    await orch.aclose()


async def test_an_audit_whose_example_cannot_be_kept_still_reports_what_it_spent(
        tmp_path: Path, redis_url: str, keyspace: KeySpace, redis_client: aioredis.Redis) -> None:
    """The teacher answered (and was paid); the store then failed (here: the shared example counter
    holds no number, so Redis refuses INCR): the cost is still the step's (before: lost with the error)."""
    orch = await distilled(tmp_path, [{"label": "shipping"}], audit_rate=1.0, price=1_000_000.0,
                           redis_url=redis_url, key_prefix=keyspace.prefix, distill_every=1000)
    await redis_client.set(keyspace.examples_new("classifier"), "not a number")
    run = await orch.run(CLASSIFY, {"text": NEW[0]})
    step = run.step("c")
    assert step.output["label"] == "shipping" and step.model == "scripted:small"
    assert [e for e in await orch.learning.store.examples("classifier") if e.audit is not None]  # it was kept
    assert step.audit_usage.total_tokens > 0
    assert step.audit_cost_usd == pytest.approx(float(step.audit_usage.total_tokens))
    assert run.cost.audit_cost_usd == step.audit_cost_usd
    await orch.aclose()


def test_an_audit_rate_without_proof_to_step_down_on_is_refused() -> None:
    """proof 0 would step down before any audit (an empty window 'agrees'); agreement 0 after any."""
    with pytest.raises(ValueError, match=r"proof must be at least 1, got 0"):
        AuditRate(0.1, 0.01, proof=0)
    with pytest.raises(ValueError, match=r"agreement must be in \(0, 1\], got 0"):
        AuditRate(0.1, 0.01, agreement=0.0)
    with pytest.raises(ValueError, match=r"agreement must be in \(0, 1\], got 1.5"):
        AuditRate(0.1, 0.01, agreement=1.5)
