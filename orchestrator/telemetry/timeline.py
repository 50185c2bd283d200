"""A run's timeline: each step as a bar over time (waiting, running, escalated), with its model,
local or cloud, tokens and cost; the data the spans carry, read back from the run's record.

The record holds each step's start and end (``started_at``/``finished_at``) and each attempt's
duration; attempts ran one after another, so an escalated step's bar is cut into the attempts
on the models it escalated from (``escalated``) and the rest (``running``). A step waits from
the end of the last step it depends on (or, with none, from the first step's start: the moment
the plan was ready) until it starts. Times are milliseconds from the run's start. The run's own
start is its end (the record's ``started_at``, stamped as the run finished) minus its duration.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from orchestrator.plan import Plan
from orchestrator.types import RunResult, StepResult

SegmentKind = Literal["waiting", "running", "escalated"]


class Segment(BaseModel):
    """One stretch of a step's bar."""

    kind: SegmentKind
    start_ms: float
    end_ms: float
    model: str | None = None
    """The model an attempt ran on (None while waiting, and for tools)."""


class StepBar(BaseModel):
    """One step of the timeline."""

    step_id: str
    agent: str
    status: str
    model: str | None = None
    local: bool = True
    escalated_from: list[str] = Field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    start_ms: float = 0.0
    end_ms: float = 0.0
    segments: list[Segment] = Field(default_factory=list)


class Timeline(BaseModel):
    """A run's steps over time."""

    run_id: str
    status: str
    duration_ms: float
    cost_usd: float = 0.0
    plan_ms: float = 0.0
    """When the plan was ready (the first step's start): planning, or compiling a workflow, before."""
    steps: list[StepBar] = Field(default_factory=list)


def timeline(result: RunResult) -> Timeline:
    """The timeline of a finished (or partly run) run's record."""
    ran = [s for s in result.steps if s.started_at > 0]
    run_start = result.started_at - result.duration_ms / 1000 if result.duration_ms else 0.0
    if ran:
        run_start = min([run_start or ran[0].started_at, *(s.started_at for s in ran)])
    plan_ready = min((s.started_at for s in ran), default=run_start)
    depends = _dependencies(result.plan)
    finished = {s.step_id: s.finished_at for s in ran}
    bars: list[StepBar] = []
    for step in result.steps:
        bar = StepBar(step_id=step.step_id, agent=step.agent, status=step.status, model=step.model, local=step.local,
                      escalated_from=list(step.escalated_from), input_tokens=step.usage.input_tokens,
                      output_tokens=step.usage.output_tokens, cost_usd=step.cost_usd)
        if step.started_at > 0:
            ready = max([plan_ready, *(finished[d] for d in depends.get(step.step_id, ()) if d in finished)])
            bar.start_ms, bar.end_ms = _ms(ready, run_start), _ms(step.finished_at, run_start)
            if step.started_at > ready:
                waited = _ms(step.started_at, run_start)
                bar.segments.append(Segment(kind="waiting", start_ms=bar.start_ms, end_ms=waited))
            bar.segments.extend(_attempts(step, _ms(step.started_at, run_start), bar.end_ms))
        bars.append(bar)
    duration = result.duration_ms or max((b.end_ms for b in bars), default=0.0)
    return Timeline(run_id=result.run_id, status=result.status, duration_ms=duration,
                    cost_usd=result.cost.cost_usd, plan_ms=_ms(plan_ready, run_start), steps=bars)


def _ms(at: float, origin: float) -> float:
    return round(max(at - origin, 0.0) * 1000, 3)


def _dependencies(plan: dict[str, Any] | None) -> dict[str, frozenset[str]]:
    if not plan:
        return {}
    try:
        parsed = Plan.model_validate(plan)
    except ValueError:
        return {}
    return {s.id: frozenset(s.depends_on) for s in parsed.steps}


def _attempts(step: StepResult, start: float, end: float) -> list[Segment]:
    """The running part of a bar, cut at each attempt (scaled to fit the step's own span)."""
    tried = [a for a in step.attempts if a.outcome != "skipped_not_local"]
    total = sum(a.latency_ms for a in tried)
    if not tried or total <= 0:
        return [Segment(kind="running", start_ms=start, end_ms=end, model=step.model)]
    scale, at = (end - start) / total, start
    segments: list[Segment] = []
    escalated = set(step.escalated_from)
    for attempt in tried:
        length = attempt.latency_ms * scale
        kind: SegmentKind = "escalated" if attempt.model in escalated else "running"
        if segments and segments[-1].kind == kind and segments[-1].model == attempt.model:
            segments[-1].end_ms = round(at + length, 3)  # a repair on the same model continues its bar
        else:
            segments.append(Segment(kind=kind, start_ms=round(at, 3), end_ms=round(at + length, 3),
                                    model=attempt.model))
        at += length
    return segments


_GLYPHS = {"waiting": ".", "running": "#", "escalated": "~"}


def render_text(line: Timeline, width: int = 40) -> str:
    """The timeline as text: the planning (``=``), then one row per step, ``.`` waiting, ``~`` on a
    model it escalated from, ``#`` running, scaled to ``width`` columns over the run's duration."""
    scale = width / line.duration_ms if line.duration_ms > 0 else 0.0
    name_width = max([8, *(len(s.step_id) for s in line.steps)])
    rows = [f"{'step':<{name_width}} {'timeline':<{width}} {'ms':>7}  model / where / tokens / cost"]
    planned = min(round(line.plan_ms * scale), width)
    rows.append(f"{'(plan)':<{name_width}} {'=' * planned:<{width}} {line.plan_ms:>7.0f}")
    for bar in line.steps:
        cells = [" "] * width
        for segment in bar.segments:
            first = min(int(segment.start_ms * scale), width - 1)
            last = max(first + 1, min(round(segment.end_ms * scale), width))
            cells[first:last] = _GLYPHS[segment.kind] * (last - first)
        where = "tool" if bar.model is None else ("local" if bar.local else "cloud")
        escalated = f" (escalated from {', '.join(bar.escalated_from)})" if bar.escalated_from else ""
        rows.append(f"{bar.step_id:<{name_width}} {''.join(cells)} {bar.end_ms - bar.start_ms:>7.0f}  "
                    f"{bar.model or '-'} {where} {bar.input_tokens}+{bar.output_tokens} tok "
                    f"${bar.cost_usd:.6f} {bar.status}{escalated}")
    rows.append(f"{'':<{name_width}} 0{'':<{width - 2}}{line.duration_ms:.0f} ms   "
                "(= planning  . waiting  ~ escalated  # running)")
    return "\n".join(rows)


__all__ = ["Segment", "SegmentKind", "StepBar", "Timeline", "render_text", "timeline"]
