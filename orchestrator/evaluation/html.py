"""The evaluation report as one self-contained HTML page: tables and inline SVG plots, no scripts, no CDN.

Per field with confidences: a **risk-coverage** plot (accuracy of the local answers against the
share answered locally, as the threshold moves; the target accuracy as a dashed line and the
chosen threshold as a dot) and a **calibration** plot (accuracy per confidence bin against the
diagonal of perfect calibration).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from orchestrator.evaluation.report import Calibration, EvalReport, FieldReport

_W, _H, _PAD = 320, 240, 36
_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}
th{background:#f6f6f6}td.n{text-align:right;font-variant-numeric:tabular-nums}
.plots{display:flex;gap:2em;flex-wrap:wrap}figure{margin:0;max-width:340px}figcaption{font-size:.9em;color:#555}
svg text{font:11px system-ui,sans-serif;fill:#444}.note{color:#666;font-size:.9em}
"""


def render(report: EvalReport) -> str:
    """The whole page, as a string (write it to a ``.html`` file)."""
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Evaluation: "
             f"{escape(report.target)}</title><style>{_STYLE}</style></head><body>",
             f"<h1>Evaluation of {escape(report.target)} on {escape(report.dataset)}</h1>", _summary(report)]
    parts += [f"<p class='note'>{escape(note)}</p>" for note in report.notes]
    parts += [_field(f) for f in report.fields]
    if report.errors:
        rows = [[e.id, e.error] for e in report.errors]
        parts.append(f"<h2>Errors ({report.failed})</h2>" + _table(["item", "error"], rows))
    parts.append("</body></html>")
    return "\n".join(parts)


def _summary(report: EvalReport) -> str:
    saving = report.baseline_cost_usd - report.cost_usd
    baseline = f"baseline cost (all on {report.baseline_model or 'no baseline model'})"
    latency = f"{report.latency_p50_ms:.0f} / {report.latency_p95_ms:.0f} ms"
    rows = [["items", str(report.items)], ["failed", str(report.failed)], ["cost", f"${report.cost_usd:.6f}"],
            [baseline, f"${report.baseline_cost_usd:.6f}"], ["saved", f"${saving:.6f}"],
            ["latency p50 / p95", latency], ["wall time", f"{report.seconds:.1f} s"]]
    rows += [[f"threshold for {agent}", "none reaches the target" if t is None else f"{t:.4f}"]
             for agent, t in report.thresholds.items()]
    return _table(["", ""], rows, header=False)


def _field(f: FieldReport) -> str:
    head = f"<h2>{escape(f.field)} <span class='note'>(column {escape(f.column)}, {escape(f.metric)}"
    head += f"{', step ' + escape(f.step) if f.step else ''}{', ' + escape(f.agent) if f.agent else ''})</span></h2>"
    rows = [["accuracy", _pct(f.accuracy)], ["answered locally", _pct(f.answered_locally)],
            ["answered by a remote model", _pct(f.answered_remotely)], ["unanswered", _pct(f.unanswered)],
            ["accuracy of the local answers", "-" if f.local_accuracy is None else _pct(f.local_accuracy)]]
    if f.metric == "rouge":
        rows += [["ROUGE-1 / ROUGE-2 / ROUGE-L F", f"{f.rouge1 or 0:.3f} / {f.rouge2 or 0:.3f} / {f.mean_score:.3f}"]]
    parts = [head, _table(["", ""], rows, header=False)]
    if f.calibration is not None:
        parts.append(_plots(f.calibration))
    if f.confusions:
        parts.append("<h3>Most frequent mistakes</h3>" + _table(
            ["expected", "answered", "items"], [[c.expected, c.predicted, str(c.count)] for c in f.confusions]))
    if f.per_label:
        worst = sorted(f.per_label, key=lambda s: (s.correct / s.items, s.label))
        parts.append(f"<details><summary>Per label ({len(worst)}, weakest first)</summary>" + _table(
            ["label", "items", "right"], [[s.label, str(s.items), _pct(s.correct / s.items)] for s in worst])
            + "</details>")
    return "\n".join(parts)


def _plots(c: Calibration) -> str:
    note = f"local model: accuracy {_pct(c.accuracy)} on {c.items} items answering all; ECE {c.ece:.3f}"
    if c.target_accuracy is not None:
        note += (f"; target {_pct(c.target_accuracy)}: " + ("no threshold reaches it" if c.threshold is None else
                 f"threshold {c.threshold:.4f} answers {_pct(c.coverage_at_threshold or 0)} locally at "
                 f"{_pct(c.accuracy_at_threshold or 0)}"))
    return (f"<p class='note'>{escape(note)}</p><div class='plots'>"
            f"<figure>{risk_coverage_svg(c)}<figcaption>Risk-coverage: accuracy of local answers vs share answered "
            f"locally as the threshold moves</figcaption></figure>"
            f"<figure>{calibration_svg(c)}<figcaption>Calibration: accuracy per confidence bin (dot size: items); "
            f"the diagonal is perfect calibration</figcaption></figure></div>")


def _x(v: float) -> float:
    return _PAD + v * (_W - 2 * _PAD)


def _y(v: float) -> float:
    return _H - _PAD - v * (_H - 2 * _PAD)


def _frame(x_label: str, y_label: str, body: Sequence[str]) -> str:
    ticks = []
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        ticks.append(f"<line x1='{_x(t):.1f}' y1='{_y(0):.1f}' x2='{_x(t):.1f}' y2='{_y(0) + 4:.1f}' stroke='#888'/>"
                     f"<text x='{_x(t):.1f}' y='{_y(0) + 15:.1f}' text-anchor='middle'>{t:g}</text>"
                     f"<line x1='{_x(0) - 4:.1f}' y1='{_y(t):.1f}' x2='{_x(1):.1f}' y2='{_y(t):.1f}' stroke='#eee'/>"
                     f"<text x='{_x(0) - 6:.1f}' y='{_y(t) + 4:.1f}' text-anchor='end'>{t:g}</text>")
    axes = (f"<line x1='{_x(0)}' y1='{_y(0)}' x2='{_x(1)}' y2='{_y(0)}' stroke='#888'/>"
            f"<line x1='{_x(0)}' y1='{_y(0)}' x2='{_x(0)}' y2='{_y(1)}' stroke='#888'/>"
            f"<text x='{_W / 2}' y='{_H - 4}' text-anchor='middle'>{escape(x_label)}</text>"
            f"<text x='12' y='{_H / 2}' text-anchor='middle' transform='rotate(-90 12 {_H / 2})'>"
            f"{escape(y_label)}</text>")
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{_W}' height='{_H}' viewBox='0 0 {_W} {_H}' "
            f"role='img'>{''.join(ticks)}{axes}{''.join(body)}</svg>")


def risk_coverage_svg(c: Calibration) -> str:
    """Accuracy (y) against coverage (x), one vertex per threshold, from the origin of full escalation."""
    points = " ".join(f"{_x(p.coverage):.1f},{_y(p.accuracy):.1f}" for p in reversed(c.curve))
    body = [f"<polyline fill='none' stroke='#1f6feb' stroke-width='2' points='{points}'/>"]
    if c.target_accuracy is not None:
        y = _y(c.target_accuracy)
        body.append(f"<line x1='{_x(0)}' y1='{y:.1f}' x2='{_x(1)}' y2='{y:.1f}' stroke='#d73a49' "
                    "stroke-dasharray='4 3'/>")
    if c.coverage_at_threshold is not None and c.accuracy_at_threshold is not None:
        body.append(f"<circle cx='{_x(c.coverage_at_threshold):.1f}' cy='{_y(c.accuracy_at_threshold):.1f}' r='4' "
                    f"fill='#d73a49'><title>threshold {c.threshold}</title></circle>")
    return _frame("share answered locally", "accuracy", body)


def calibration_svg(c: Calibration) -> str:
    """Observed accuracy (y) against mean confidence (x) per bin, over the diagonal."""
    most = max((b.count for b in c.bins), default=1)
    body = [f"<line x1='{_x(0)}' y1='{_y(0)}' x2='{_x(1)}' y2='{_y(1)}' stroke='#aaa' stroke-dasharray='3 3'/>"]
    for b in c.bins:
        radius = 2 + 6 * (b.count / most) ** 0.5
        body.append(f"<circle cx='{_x(b.mean_confidence):.1f}' cy='{_y(b.accuracy):.1f}' r='{radius:.1f}' "
                    f"fill='#1f6feb' fill-opacity='.7'><title>{b.lower:.1f}-{b.upper:.1f}: {b.count} items, "
                    f"accuracy {b.accuracy:.2f}</title></circle>")
    return _frame("confidence", "accuracy", body)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, header: bool = True) -> str:
    head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(f"<td{' class=n' if i else ''}>{escape(v)}</td>" for i, v in enumerate(r)) + "</tr>"
                   for r in rows)
    return f"<table>{head}{body}</table>"


def _pct(value: float) -> str:
    return f"{value:.1%}"


__all__ = ["calibration_svg", "render", "risk_coverage_svg"]
