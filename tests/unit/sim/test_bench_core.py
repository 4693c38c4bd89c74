"""A reduced detection grid through the real core and the example plan (the full grid is
``rollguard bench detection``): a sustained regression is caught with the right action soon
after the rule's ``for``; a market-wide shock is not blamed on the canary."""

from __future__ import annotations

from monitor.sim.bench import run_one
from monitor.sim.scoring import score_run


def test_sustained_latency_regression_is_rolled_back_right_after_for() -> None:
    result = run_one("latency_regression", 0)
    sc = score_run(result, "core")
    assert sc.detected and sc.correct, result.decisions["core"]
    assert sc.over_for_s is not None and 0.0 <= sc.over_for_s <= 30.0
    flagger = score_run(result, "flagger-style")
    assert flagger.delay_s is not None and sc.delay_s is not None
    assert flagger.delay_s > sc.delay_s


def test_lp_outage_reduces_scope_within_seconds() -> None:
    sc = score_run(run_one("lp_outage", 0), "core")
    assert sc.detected and sc.correct and sc.delay_s is not None and sc.delay_s < 10.0


def test_market_wide_volatility_is_not_blamed_on_the_canary() -> None:
    result = run_one("volatile_market", 0)
    assert score_run(result, "core").false_actions == 0, result.decisions["core"]
