"""The statistics the rules decide with, checked against references on random streams.

``BernoulliCusum`` (``method: cusum``) and ``msprt_two_proportions`` (``method:
sequential`` and the policy's "driven by" attribution) live in ``detectors/`` beside the
other statistics and pass the same contract suite (``test_contract.py``); here their
formulas are checked against scipy and their error guarantees by simulation. How a rule
uses them is tested in ``tests/unit/core`` (``test_cusum.py``, ``test_rules.py``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import binom, norm

from detectors import BernoulliCusum, bernoulli_llr, msprt_two_proportions


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bernoulli_llr_matches_the_binomial_likelihood_ratio(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(200):
        n = int(rng.integers(1, 500))
        bad = int(rng.integers(0, n + 1))
        p0 = float(rng.uniform(0.001, 0.3))
        p1 = float(rng.uniform(p0 + 1e-3, 0.6))
        ref = binom.logpmf(bad, n, p1) - binom.logpmf(bad, n, p0)
        assert bernoulli_llr(bad, n, p0, p1) == pytest.approx(ref, rel=1e-9, abs=1e-9)
    assert bernoulli_llr(0, 0, 0.01, 0.05) == 0.0


@pytest.mark.parametrize("seed", [3, 4])
def test_bernoulli_cusum_is_pages_recursion_with_latch_and_cap(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p0, p1, h, cap = 0.01, 0.05, 3.0, 5.0
    n = rng.integers(0, 40, 3000)
    rate = np.where(np.arange(3000) < 1500, 0.01, 0.1)  # the rate rises half-way
    bad = rng.binomial(n, rate)
    c, s, alarmed, seen = BernoulliCusum(), 0.0, False, []
    for b, k in zip(bad.tolist(), n.tolist(), strict=True):
        llr = b * math.log(p1 / p0) + (k - b) * math.log((1 - p1) / (1 - p0))
        s = min(cap, max(0.0, s + llr))
        alarmed = s >= h or (alarmed and s > 0)
        assert c.step(b, k, p0, p1, h=h, cap=cap) == alarmed
        assert c.s == pytest.approx(s, abs=1e-9) and 0.0 <= c.s <= cap
        seen.append(alarmed)
    assert sum(seen[1510:]) >= 0.99 * len(seen[1510:])  # a real rise holds the alarm


def test_bernoulli_cusum_false_alarms_no_sooner_than_lordens_bound() -> None:
    """Under the reference rate the mean run length to a false alarm is at least e^h
    events (Lorden 1971), one event per step as at the finest resolution."""
    rng = np.random.default_rng(5)
    p0, p1, h = 0.02, 0.1, 3.0
    lengths = []
    for _ in range(300):
        c, t = BernoulliCusum(), 0
        for b in rng.random(20_000) < p0:
            t += 1
            if c.step(int(b), 1, p0, p1, h=h, cap=2 * h):
                break
        lengths.append(t)
    assert np.mean(lengths) >= math.exp(h)


def test_bernoulli_cusum_bounds() -> None:
    c = BernoulliCusum()
    assert c.step(50, 50, 0.01, 0.05, h=3.0, cap=5.0) and c.s == 5.0  # capped
    assert not BernoulliCusum().step(0, 1000, 0.01, 0.05, h=3.0, cap=5.0)  # floored at 0


def _mixture_lr(diff: float, v: float, tau2: float) -> float:
    """∫ N(diff; θ, v) N(θ; 0, τ²) dθ / N(diff; 0, v), by numerical integration."""
    sd, tau = math.sqrt(v), math.sqrt(tau2)
    num, _ = integrate.quad(
        lambda th: norm.pdf(diff, th, sd) * norm.pdf(th, 0.0, tau),
        diff - 12 * sd,
        diff + 12 * sd,
        points=[diff],
    )
    return float(num / norm.pdf(diff, 0.0, sd))


@pytest.mark.parametrize(
    ("x_var", "n_var", "x_base", "n_base"),
    [(12, 1000, 10, 1000), (30, 800, 10, 1200), (9, 100, 3, 150), (200, 5000, 150, 5000)],
)
def test_msprt_is_the_normal_mixture_likelihood_ratio(
    x_var: int, n_var: int, x_base: int, n_base: int
) -> None:
    p_var, p_base = x_var / n_var, x_base / n_base
    pooled = (x_var + x_base) / (n_var + n_base)
    v = pooled * (1 - pooled) * (1 / n_var + 1 / n_base)
    tau2 = pooled * (1 - pooled) / 10
    ref = _mixture_lr(p_var - p_base, v, tau2)
    assert msprt_two_proportions(x_var, n_var, x_base, n_base) == pytest.approx(ref, rel=1e-6)
    assert msprt_two_proportions(x_base, n_base, x_var, n_var) == 1.0  # wrong direction


def _first_rejections(rate_var: float, runs: int, seed: int, alpha: float = 0.05) -> list[int]:
    """Per run, the events per arm at the first look with e >= 1/alpha (-1: never)."""
    rng = np.random.default_rng(seed)
    looks = np.arange(100, 4001, 100)
    out = []
    for _ in range(runs):
        var = np.cumsum(rng.random(4000) < rate_var)[looks - 1]
        base = np.cumsum(rng.random(4000) < 0.05)[looks - 1]
        hit = next(
            (
                int(n)
                for n, xv, xb in zip(looks, var, base, strict=True)
                if msprt_two_proportions(xv, n, xb, n) >= 1 / alpha
            ),
            -1,
        )
        out.append(hit)
    return out


def test_msprt_stays_valid_under_continuous_looks_and_finds_a_doubled_rate() -> None:
    runs = 300
    aa = _first_rejections(0.05, runs, seed=6)
    false = sum(n >= 0 for n in aa) / runs
    assert false <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / runs)  # 40 looks, still <= alpha
    found = _first_rejections(0.10, 100, seed=7)
    assert sum(n >= 0 for n in found) >= 95
