"""The demo's report in a real browser (headless Chromium, 1400x900): the verdict comes
first and the deciding chart is on the first screen, stopped rollouts first.

The report is the demo's own (``monitor.demo.story.offline_report``: the demo's simulation,
core, orchestrator and recorder, without Kafka: the live demo checks it decides the same).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.demo.story import DemoOptions, offline_report
from tests.chromium import Chromium
from tests.tools import chromium, missing_reason

pytestmark = pytest.mark.skipif(chromium() is None, reason=missing_reason("chromium"))

LAYOUT = """(() => {
  const box = el => { const r = el.getBoundingClientRect(); return [r.top, r.bottom]; };
  const first = document.querySelector('section.rollout');
  const img = first.querySelector('img.deciding');
  return {
    order: [...document.querySelectorAll('section.rollout')].map(s => s.id),
    summary: [...document.querySelectorAll('table')[0].rows].slice(1)
      .map(r => [...r.cells].map(c => c.innerText)),
    verdict: first.querySelector('.verdict').innerText,
    stats: first.querySelector('.stats').innerText,
    verdictBox: box(first.querySelector('.verdict')),
    chartBox: box(img),
    chartSize: [img.naturalWidth, img.naturalHeight],
    folded: [...first.querySelectorAll('details')].map(d => d.open),
    viewport: [window.innerWidth, window.innerHeight],
  };
})()"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo-report")
    return offline_report(DemoOptions(out_dir=out, live=False))


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    with Chromium() as b:
        yield b


def png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_verdict_and_deciding_chart_on_the_first_screen(
    report: Path, browser: Chromium, tmp_path: Path
) -> None:
    png, page = browser.shoot(report.as_uri(), LAYOUT)
    (tmp_path / "report.png").write_bytes(png)
    assert png_size(png) == (1400, 900) and page["viewport"] == [1400, 900]
    layout: dict[str, Any] = page
    # stopped rollouts first: the rollback, then the shadow's advice, then the completed one
    assert layout["order"] == ["demo-latency", "demo-shadow", "demo-healthy"]
    assert [row[:2] for row in layout["summary"]] == [
        ["demo-latency", "Rolled back"],
        ["demo-shadow", "Frozen (advisory)"],
        ["demo-healthy", "completed"],
    ]
    assert layout["summary"][0][3] == "canary-p99-latency"
    verdict = layout["verdict"]
    assert verdict.startswith("Rolled back at 2023-11-14 22:")
    assert "in stage canary-1, by rule canary-p99-latency: canary p99 latency " in verdict
    assert " vs baseline " in verdict and "limit +30 %" in verdict
    assert verdict.endswith("bad for 2 min (rule: 2 min).")
    assert layout["stats"].startswith("canary-p99-latency: latency_p99_ms of canary = ")
    # no scrolling: the sentence and the whole deciding chart fit in 900 px
    assert 0 < layout["verdictBox"][0] < layout["verdictBox"][1] <= layout["chartBox"][0]
    assert layout["chartBox"][1] <= 900
    assert layout["chartSize"][0] >= 1300  # drawn large, not a thumbnail
    assert layout["folded"] and not any(layout["folded"])  # healthy rules and timeline folded


def test_every_rollout_starts_with_its_verdict(report: Path, browser: Chromium) -> None:
    script = """[...document.querySelectorAll('section.rollout')].map(s => [s.id,
        s.children[1].className, s.children[1].innerText])"""
    _, sections = browser.shoot(report.as_uri(), script)
    verdicts = {rid: (cls, text) for rid, cls, text in sections}
    assert all(cls == "verdict" for cls, _ in verdicts.values())
    assert verdicts["demo-shadow"][1].startswith("Frozen (advisory: dry run, nothing acted) at")
    assert "by rule shadow-route-match: shadow routing match rate" in verdicts["demo-shadow"][1]
    assert verdicts["demo-healthy"][1].startswith("Completed: 5 promotion(s) (canary-1 → ")
