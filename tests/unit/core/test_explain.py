"""Reasons in the operator's words: one case per kind of comparison, exact text.

The headline must say what was seen against what limit in the signal's unit, how long it
had been bad and the action; the statistics line keeps the raw numbers. A CUSUM that is on
below its alarm level (its evidence not yet paid back) must say so, never "0.06 >= 0.5".
"""

from __future__ import annotations

from typing import Any

import pytest

from monitor.core import signals
from monitor.core.explain import Reason, decision_reason, driver_text, explain_rule, lines
from monitor.core.wording import WORDS
from topics.commands import Evidence


def ev(**kw: Any) -> Evidence:
    base: dict[str, Any] = {"rule": "r", "signal": "error_rate", "variant": "canary"}
    return Evidence(**(base | kw))


CASES = [
    (  # the example: a ratio against the baseline variant
        ev(
            signal="latency_p95_ms",
            observed=118.0,
            baseline=87.0,
            threshold=113.1,
            comparator="ratio>",
            window_s=60.0,
            for_s=30.0,
            samples=400,
        ),
        {"bad_for_s": 45.0},
        "canary p95 latency 118 ms vs baseline 87 ms (+36 %, limit +30 %), bad for 45 s "
        "(rule: 30 s)",
    ),
    (
        ev(observed=0.0312, threshold=0.02, comparator=">", for_s=300.0),
        {"bad_for_s": 300.0},
        "canary error rate 3.12 %, over the 2 % limit, bad for 5 min (rule: 5 min)",
    ),
    (
        ev(signal="pnl_cum", observed=-6_100_000.0, threshold=-5_000_000.0, comparator="<"),
        {"bad_for_s": 0.0},
        "canary cumulative P&L -6,100,000 minor units, under the -5,000,000 minor units "
        "limit, bad for 0 s (rule: at once)",
    ),
    (
        ev(
            signal="pnl_per_order",
            observed=-812.0,
            baseline=-12.0,
            threshold=-512.0,
            comparator="difference<",
            for_s=20.0,
        ),
        {"bad_for_s": 21.0},
        "canary P&L per order -812 minor units vs baseline -12 minor units (-800 minor units, "
        "limit -500 minor units), bad for 21 s (rule: 20 s)",
    ),
    (
        ev(
            signal="reject_rate",
            observed=0.09,
            baseline=0.02,
            threshold=0.06,
            comparator=">",
            stats={"sigma": 0.01, "baseline_variant": 0.021},
        ),
        {},
        "canary reject rate 9 % vs its learned normal 2 % (limit 6 %; baseline now 2.1 %)",
    ),
    (
        ev(signal="freshness_s", observed=31.0, threshold=1.0, comparator=">", for_s=29.0),
        {"bad_for_s": 30.0},
        "canary silent for 31 s (limit 1 s), bad for 30 s (rule: 29 s)",
    ),
    (
        ev(signal="status_mismatches", observed=3.0, threshold=0.0, comparator=">"),
        {},
        "3 canary objects in status mismatch with other systems (limit 0)",
    ),
    (
        ev(
            observed=0.08,
            baseline=0.01,
            threshold=1000.0,
            comparator="e_value>=",
            stats={"e_value": 2500.0},
        ),
        {},
        "canary error rate 8 % vs baseline 1 % since the stage began: worse beyond chance "
        "(evidence 2,500 ≥ 1,000, 99.9 % confidence)",
    ),
    (  # a latency CUSUM at 4x its alarm level
        ev(
            signal="latency_p95_ms",
            observed=2.0,
            baseline=0.05,
            threshold=0.5,
            comparator="cusum>=",
            stats={"cusum": 2.0, "p0": 0.05, "p1": 0.1, "limit": 113.1, "baseline_quantile": 87.0},
        ),
        {"signal_value": 118.0, "bad_for_s": 45.0},
        "canary p95 latency 118 ms vs baseline 87 ms: more orders slower than 113 ms "
        "(1.3 × baseline p95) than the 5 % expected, evidence at 4× the alarm level, "
        "bad for 45 s (rule: at once)",
    ),
    (  # on, but below the alarm level: evidence not drained yet
        ev(
            observed=0.06,
            baseline=0.02,
            threshold=0.5,
            comparator="cusum>=",
            stats={"cusum": 0.06, "p0": 0.02, "p1": 0.07, "baseline_samples": 400.0},
        ),
        {"signal_value": 0.05},
        "canary error rate 5 %: more errors than the 2 % expected from the baseline, evidence "
        "crossed the alarm level and has not drained yet (now 12 % of it; the rule stays on "
        "until it is back to zero)",
    ),
    (
        ev(
            observed=16.0,
            threshold=14.4,
            comparator="burn>",
            window_s=3600.0,
            stats={"burn_short": 18.0, "rate_long": 0.16, "rate_short": 0.18},
        ),
        {},
        "canary error rate 16 % over the last 1 h and 18 % over a short window: burning the "
        "error budget 16× and 18× too fast (limit 14.4×)",
    ),
    (
        ev(
            signal="error_rate",
            variant="canary",
            segment={"region": "eu"},
            observed=None,
            threshold=0.04,
            comparator=">",
        ),
        {},
        "canary region=eu error rate: no data (this rule treats silence as a failure)",
    ),
]


@pytest.mark.parametrize(("evidence", "extra", "expected"), CASES)
def test_headline_in_the_operators_words(
    evidence: Evidence, extra: dict[str, Any], expected: str
) -> None:
    assert explain_rule(evidence, **extra).condition == expected


def test_statistics_line_keeps_the_raw_numbers() -> None:
    e = CASES[0][0]
    assert explain_rule(e).details == (
        "r: latency_p95_ms of canary = 118 ratio> 113.1, baseline 87, window 60s, "
        "400 samples, for 30s"
    )
    cusum = explain_rule(CASES[9][0]).details
    assert cusum.startswith("r: CUSUM of error_rate of canary 0.06 nats, alarm at 0.5 (on from")
    assert ">=" not in cusum  # the statistic below its alarm is not a false comparison


def test_decision_reason_is_headline_then_statistics() -> None:
    parts = [Reason("canary error rate 3 %, over the 2 % limit", "r: error_rate ...")]
    drivers = [ev(segment={"region": "eu"}, observed=0.091, baseline=0.012, comparator="x")]
    text = decision_reason("pause", parts, driven_by=driver_text(drivers))
    assert lines(text) == (
        "canary error rate 3 %, over the 2 % limit, driven by region=eu (error rate 9.1 % vs "
        "1.2 % in the other segments) → pause",
        "r: error_rate ...",
    )
    assert lines("one line only") == ("one line only", "")


def test_every_signal_has_words_and_a_unit() -> None:
    assert set(WORDS) == set(signals.ALL_SIGNALS)
