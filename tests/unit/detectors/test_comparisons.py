"""Canary-vs-baseline comparisons: formulas against scipy, small A/A and power checks.

The 1,000-run A/A and power figures are printed by ``python -m tests.bench.detectors.canary``;
here smaller simulations check that the error rate is bounded and that the tests have power.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import beta, binom

import detectors as d


def _bf_reference(x: int, y: int, rho: float, kappa: float) -> float:
    """Beta-mixture Bayes factor by numerical integration."""
    a, b = kappa * rho, kappa * (1 - rho)
    num, _ = integrate.quad(lambda p: binom.pmf(x, x + y, p) * beta.pdf(p, a, b), 0, 1)
    return float(num / binom.pmf(x, x + y, rho))


@pytest.mark.parametrize(
    ("x", "y", "rho"), [(5, 5, 0.5), (30, 10, 0.5), (3, 40, 0.1), (0, 12, 0.3)]
)
def test_count_test_bayes_factor_matches_integration(x: int, y: int, rho: float) -> None:
    t = d.SequentialCountTest(canary_share=rho, concentration=50.0, min_events=1)
    t.update("canary", x)
    t.update("baseline", y)
    assert t.result().e_value == pytest.approx(_bf_reference(x, y, rho, 50.0), rel=1e-6)


def _count_aa(runs: int, events: int, rho: float, ratio: float, seed: int) -> list[int | None]:
    """Per run: the event index of the first rejection (None if never)."""
    rng = np.random.default_rng(seed)
    p = rho * ratio / (rho * ratio + 1 - rho)
    out: list[int | None] = []
    for _ in range(runs):
        t = d.SequentialCountTest(canary_share=rho)
        hit = None
        for i, canary in enumerate(rng.random(events) < p):
            t.update("canary" if canary else "baseline")
            if t.decision != "none":
                hit = i
                break
        out.append(hit)
    return out


def test_count_test_aa_false_positive_rate_is_bounded() -> None:
    hits = _count_aa(runs=300, events=400, rho=0.2, ratio=1.0, seed=1)
    fpr = sum(h is not None for h in hits) / len(hits)
    assert fpr <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / len(hits))


def test_count_test_detects_doubled_error_rate() -> None:
    hits = _count_aa(runs=60, events=600, rho=0.5, ratio=2.0, seed=2)
    assert sum(h is not None for h in hits) >= 57


def test_count_test_direction_and_interval() -> None:
    t = d.SequentialCountTest(canary_share=0.1)
    for i in range(400):
        t.update("canary" if i % 20 == 0 else "baseline")  # canary at half its share
    r = t.result()
    assert r.direction == "lower"
    assert r.interval is not None and r.interval[1] < 1.0
    assert r.effect == pytest.approx(0.5, rel=0.15)
    assert r.p_value is not None and r.p_value <= 0.05


def test_count_test_not_enough_data() -> None:
    t = d.SequentialCountTest(min_events=10)
    for _ in range(9):
        t.update("canary")
    r = t.result()
    assert not r.enough_data and r.direction == "none"


def _cs_aa(runs: int, n: int, shift: float, seed: int) -> int:
    rng = np.random.default_rng(seed)
    rejected = 0
    for _ in range(runs):
        cs = d.MeanDifferenceCS(log=True)
        base = rng.lognormal(3.0, 0.6, n)
        can = rng.lognormal(3.0, 0.6, n) * shift
        for b, c in zip(base.tolist(), can.tolist(), strict=True):
            cs.update("baseline", b)
            cs.update("canary", c)
            if cs.decision != "none":
                rejected += 1
                break
    return rejected


def test_confidence_sequence_aa_false_positive_rate_is_bounded() -> None:
    runs = 200
    fp = _cs_aa(runs, 500, 1.0, seed=3)
    assert fp / runs <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / runs)


def test_confidence_sequence_detects_20_percent_latency_regression() -> None:
    assert _cs_aa(40, 1500, 1.2, seed=4) >= 38


def test_confidence_sequence_moments_match_numpy() -> None:
    rng = np.random.default_rng(5)
    b, c = rng.normal(10, 2, 300), rng.normal(11, 3, 200)
    cs = d.MeanDifferenceCS()
    for x in b:
        cs.update("baseline", float(x))
    for x in c:
        cs.update("canary", float(x))
    r = cs.result()
    assert r.effect == pytest.approx(c.mean() - b.mean())
    lo, hi = r.interval or (math.nan, math.nan)
    assert lo < r.effect < hi
    # wider than the fixed-sample 95% CI: the price of validity under continuous monitoring
    se = math.sqrt(c.var(ddof=1) / len(c) + b.var(ddof=1) / len(b))
    assert hi - lo > 2 * 1.96 * se


def _exceedance_runs(runs: int, sigma_canary: float, seed: int) -> int:
    rng = np.random.default_rng(seed)
    rejected = 0
    for _ in range(runs):
        t = d.QuantileExceedanceTest(q=0.95, warmup=400)
        for x in rng.lognormal(3.0, 0.6, 400).tolist():
            t.update("baseline", x)
        base = rng.lognormal(3.0, 0.6, 3000).tolist()
        can = rng.lognormal(3.0, sigma_canary, 3000).tolist()
        for b, c in zip(base, can, strict=True):
            t.update("baseline", b)
            t.update("canary", c)
            if t.decision != "none":
                rejected += 1
                break
    return rejected


def test_exceedance_test_aa_and_tail_regression() -> None:
    runs = 150
    assert _exceedance_runs(runs, 0.6, seed=8) / runs <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / runs)
    # same median, heavier tail: p95 about 20% higher
    assert _exceedance_runs(30, 0.71, seed=9) >= 27


def test_exceedance_test_ignores_canary_until_threshold_is_fixed() -> None:
    t = d.QuantileExceedanceTest(q=0.9, warmup=50)
    for _ in range(100):
        t.update("canary", 1e9)
    assert t.threshold is None and t.n_canary == 0
    assert not t.result().enough_data
