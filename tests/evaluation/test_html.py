"""The HTML report: one self-contained page (no scripts, no external resources) with both plots."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from orchestrator.evaluation.html import render
from tests.evaluation.deployment import build, rows


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_page_is_self_contained_with_risk_coverage_and_calibration_plots() -> None:
    spec = [("a", 0.9, "a"), ("b", 0.8, "b"), ("c", 0.3, "x"), ("x<y>z", 0.7, "z")]
    with build() as orch:
        report = orch.evaluate_sync("label_it", rows(spec), expect=["label=gold"], target_accuracy=0.95)
    page = render(report)
    parser = _Tags()
    parser.feed(page)
    names = [tag for tag, _ in parser.tags]
    assert names.count("svg") == 2 and "polyline" in names and "script" not in names
    assert not [a for _, attrs in parser.tags for k, a in attrs.items() if k in ("src", "href")]
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", page)  # only the SVG namespace URI
    assert "Risk-coverage" in page and "Calibration" in page and "x&lt;y&gt;z" in page
    assert "threshold 0.8000 answers 50.0% locally" in page
    assert "Per label (4, weakest first)</summary><table><tr><th>label</th><th>items</th><th>right</th></tr>" \
           "<tr><td>x&lt;y&gt;z</td><td class=n>1</td><td class=n>0.0%</td></tr>" in page
