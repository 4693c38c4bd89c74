"""``method: slowdown`` as scenario tables: events per second -> state per second.

Each second's canary and baseline orders, grouped between the baseline's latency quantiles
of the window before, tested for "canary = baseline x ratio": a small slowdown (+8 %) acts
at onset + the evidence's build-up + ``for``; a market-wide slowdown (both variants x1.5)
and a blip shorter than ``for`` never act.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.core.helpers import Run, orders, plan_set, resumed, rule
from topics.errors import ConfigError

SPREAD = (6.0, 7.0, 8.0, 9.0, 10.0, 12.0, 14.0, 17.0, 21.0, 40.0)
"""Latencies of a second's orders (ms), a heavy-ish tail: every order is one of these."""


def slowdown_rule(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "signal": "latency_p50_ms",
        "window": "30s",
        "min_samples": 100,
        "threshold": {"kind": "vs_baseline", "method": "slowdown", "ratio": 1.06, "h": 3, "cap": 4},
        "action": "rollback",
        "for": "20s",
    }
    return rule("slow", **{**base, **fields})


def flow(
    canary: dict[range, float] | None = None, market: dict[range, float] | None = None
) -> dict[int, list[Any]]:
    """10 canary and 40 baseline orders a second over ``SPREAD`` (shifted by the second so
    quantiles move a little); canary latencies x factor in its ranges, both in ``market``'s."""
    out: dict[int, list[Any]] = {}
    for t in range(180):
        mine = next((f for r, f in (canary or {}).items() if t in r), 1.0)
        both = next((f for r, f in (market or {}).items() if t in r), 1.0)
        evs: list[Any] = []
        for i in range(10):
            x = SPREAD[(i + t) % len(SPREAD)] * both
            evs += orders(t, 1, latency=x * mine, tag=f"c{i}-")
            evs += orders(t, 4, variant="baseline", latency=x, tag=f"b{i}-")
        out[t] = evs
    return out


def test_a_small_slowdown_acts_after_its_evidence_and_for(tmp_path: Path) -> None:
    run = Run(plan_set(tmp_path, [slowdown_rule()])).feed(flow({range(60, 180): 1.08}), 179)
    states = run.state_of("slow")
    assert {states[t] for t in range(0, 60)} <= {"inactive"}
    pending = [t for t, s in states.items() if s == "pending"]
    assert 60 < pending[0] <= 75  # 10 canary orders a second at +8 %: 3 nats in seconds
    assert run.when("rollback") == [pending[0] + 20.0]
    headline, statistics = run.commands[0].reason.split("\n")
    assert "its orders slower than the baseline's at the same time (tuned to 1.06×)" in headline
    assert statistics.startswith("slow: CUSUM of latency_p50_ms of canary")


def test_a_market_wide_slowdown_and_a_blip_never_act(tmp_path: Path) -> None:
    plans = plan_set(tmp_path, [slowdown_rule()])
    assert Run(plans).feed(flow(), 179).commands == []
    assert Run(plans).feed(flow(market={range(60, 120): 1.5}), 179).commands == []
    assert Run(plans).feed(flow({range(60, 68): 3.0}), 179).commands == []


def test_state_survives_export_and_import(tmp_path: Path) -> None:
    plans = plan_set(tmp_path, [slowdown_rule()])
    events = flow({range(60, 180): 1.08})
    straight = Run(plans).feed(events, until=179)
    again = resumed(plans, events, cut=66, until=179)
    assert again.when("rollback") == straight.when("rollback") != []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"signal": "error_rate"}, "a latency signal"),
        ({"eval_interval": "10s"}, "eval_interval"),
        (
            {"threshold": {"kind": "vs_baseline", "method": "slowdown", "ratio": 0.9, "h": 3}},
            "ratio",
        ),
        ({"threshold": {"kind": "vs_baseline", "method": "slowdown", "ratio": 1.1}}, "threshold.h"),
        (
            {"threshold": {"kind": "vs_baseline", "method": "slowdown", "h": 3, "cap": 2}},
            "cap",
        ),
    ],
)
def test_config_refuses_what_the_test_cannot_run(
    tmp_path: Path, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        plan_set(tmp_path, [slowdown_rule(**fields)])
