"""``method: cause_shift`` as scenario tables: events per second -> state per second.

The canary's rejection causes against the baseline variant's over the same 10 s periods:
a shift at an unchanged reject rate pauses once the evidence reaches 1/alpha (at a period's
end, latched for the stage); the same mix on both sides, or a market that moves both
variants' causes at once, never does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.core.helpers import Run, orders, plan_set, resumed, rule
from topics.errors import ConfigError

CAUSES = ("margin", "price", "margin", "off_quotes", "margin", "price")


def causes_rule(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "signal": "reject_mix_divergence",
        "window": "10s",
        "min_samples": 10,
        "threshold": {"kind": "vs_baseline", "method": "cause_shift", "alpha": 0.001},
        "no_data": "ok",
    }
    return rule("mix", **{**base, **fields})


def flow(
    shifted: range = range(0), market: range = range(0), until: int = 240, new: str = "unmapped"
) -> dict[int, list[Any]]:
    """20 canary and 40 baseline orders a second, one and two rejects: causes in turn. In
    ``shifted`` the canary's rejects are ``new`` (its reject rate unchanged); in ``market``
    every reject of both variants is a requote."""
    out: dict[int, list[Any]] = {}
    for t in range(until):
        cause = "requote" if t in market else CAUSES[t % len(CAUSES)]
        mine = new if t in shifted else cause
        base_a = "requote" if t in market else CAUSES[(t + 1) % len(CAUSES)]
        out[t] = (
            orders(t, 20, rejects=1, reason=mine)
            + orders(t, 20, variant="baseline", rejects=1, reason=cause, tag="a")
            + orders(t, 20, variant="baseline", rejects=1, reason=base_a, tag="b")
        )
    return out


def test_a_cause_shift_at_an_unchanged_rate_pauses_at_a_period_end(tmp_path: Path) -> None:
    run = Run(plan_set(tmp_path, [causes_rule()])).feed(flow(shifted=range(100, 240)), until=239)
    paused = run.when("pause")
    assert len(paused) == 1 and 100 < paused[0] <= 160 and paused[0] % 10 == 0
    assert set(run.state_of("mix")[t] for t in range(0, 100)) == {"inactive"}
    headline, statistics = run.commands[0].reason.split("\n")
    assert "canary rejection causes differ from the baseline's over the same periods" in headline
    assert "≥ 1,000, 99.9 % confidence" in headline
    assert statistics.startswith("mix: reject_mix_divergence of canary")


def test_the_same_mix_and_a_market_wide_move_never_act(tmp_path: Path) -> None:
    plans = plan_set(tmp_path, [causes_rule()])
    assert Run(plans).feed(flow(), until=239).commands == []
    assert Run(plans).feed(flow(market=range(60, 200)), until=239).commands == []


def test_a_new_stage_is_a_new_test(tmp_path: Path) -> None:
    stages = [
        {"name": "s1", "traffic_pct": 5, "min_dwell": "60s", "min_samples": 1},
        {"name": "s2", "traffic_pct": 20, "min_dwell": "1d"},
    ]
    # one shifted period in s1 and one in s2 (promoted at 60): neither alone is enough; in
    # one stage the two are (the control)
    events = flow(shifted=range(51, 71))
    two = Run(plan_set(tmp_path, [causes_rule()], stages=stages)).feed(events, until=239)
    one = Run(plan_set(tmp_path, [causes_rule()])).feed(events, until=239)
    assert two.when("pause") == [] and one.when("pause") == [70.0]


def test_state_survives_export_and_import(tmp_path: Path) -> None:
    plans = plan_set(tmp_path, [causes_rule()])
    events = flow(shifted=range(100, 240))
    straight = Run(plans).feed(events, until=239)
    again = resumed(plans, events, cut=105, until=239)
    assert again.when("pause") == straight.when("pause") != []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"signal": "reject_rate"}, "reject_mix_divergence for a cause_shift"),
        ({"for": "30s"}, "no for/keep_firing_for on a cause_shift"),
        ({"eval_interval": "10s"}, "eval_interval"),
        ({"threshold": {"kind": "vs_baseline", "method": "cause_shift", "alpha": 0.9}}, "alpha"),
    ],
)
def test_config_refuses_what_the_test_cannot_run(
    tmp_path: Path, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        plan_set(tmp_path, [causes_rule(**fields)])
