"""The cause-shift test's statistics against brute force and against its guarantees."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

from detectors.multinomial import SequentialMultinomialTest, fisher_log_lr

P = np.array([0.45, 0.28, 0.12, 0.10, 0.05])


def _brute_log_lr(x: dict[str, int], m: dict[str, int], w: dict[str, float]) -> float:
    """Fisher's noncentral multivariate hypergeometric vs the central one, by enumeration."""
    cats, k = list(m), sum(x.values())

    def weight(xs: tuple[int, ...], odds: dict[str, float]) -> float:
        return math.prod(
            math.comb(m[c], xs[i]) * odds.get(c, 1.0) ** xs[i] for i, c in enumerate(cats)
        )

    tables = [xs for xs in itertools.product(*(range(m[c] + 1) for c in cats)) if sum(xs) == k]
    seen = tuple(x.get(c, 0) for c in cats)
    alt = weight(seen, w) / sum(weight(xs, w) for xs in tables)
    null = weight(seen, {}) / sum(weight(xs, {}) for xs in tables)
    return math.log(alt / null)


def test_fisher_log_lr_is_exact_on_small_tables() -> None:
    rng = random.Random(1)
    for _ in range(150):
        m = {f"c{i}": rng.randint(0, 6) for i in range(rng.randint(2, 4))}
        pool = [c for c, n in m.items() for _ in range(n)]
        if len(pool) < 2:
            continue
        rng.shuffle(pool)
        x: dict[str, int] = {}
        for c in pool[: rng.randint(1, len(pool) - 1)]:
            x[c] = x.get(c, 0) + 1
        w = {c: rng.uniform(0.2, 5.0) for c in m}
        assert fisher_log_lr(x, m, w) == pytest.approx(_brute_log_lr(x, m, w), abs=1e-9)


def _full_table_pmf(counts: list[float], p: list[float], k: int) -> float:
    """P(S = k) by the whole table, event by event (what the banded one must equal)."""
    pmf = [1.0] + [0.0] * k
    for n_c, q in zip(counts, p, strict=True):
        r = 1.0 - q
        for _ in range(int(n_c)):
            for i in range(k, 0, -1):
                pmf[i] = pmf[i] * r + pmf[i - 1] * q
            pmf[0] *= r
    return pmf[k]


def test_banded_pmf_is_the_whole_tables_bit_for_bit() -> None:
    from detectors.multinomial import _sum_of_binomials_pmf

    rng = random.Random(7)
    for _ in range(400):
        counts = [
            float(rng.randint(0, 12)) for _ in range(rng.randint(1, 20))
        ]  # <= 256: event by event
        total = int(sum(counts))
        if total < 1:
            continue
        p = [
            rng.choice([rng.random(), rng.uniform(0.0, 1e-3), 1.0 - rng.random() * 1e-3])
            for _ in counts
        ]
        for k in {0, 1, rng.randint(0, total), total // 2, total - 1, total}:
            assert _sum_of_binomials_pmf(counts, p, k) == _full_table_pmf(counts, p, k)


def _group_by_group_pmf(counts: list[float], p: list[float], k: int) -> float:
    """P(S = k) past 256 events: each group's binomial pmf in its own numpy calls, convolved
    in turn (what the one-array form must equal)."""
    from scipy.special import gammaln

    acc = np.ones(1)
    for n_c, q in zip(counts, p, strict=True):
        j = np.arange(int(n_c) + 1, dtype=np.float64)
        log_c = gammaln(n_c + 1.0) - gammaln(j + 1.0) - gammaln(n_c - j + 1.0)
        with np.errstate(divide="ignore"):
            acc = np.convolve(acc, np.exp(log_c + j * np.log(q) + (n_c - j) * np.log1p(-q)))
    return float(acc[k])


def test_large_pmf_is_group_by_group_bit_for_bit() -> None:
    from detectors.multinomial import _SMALL, _sum_of_binomials_pmf

    rng = random.Random(11)
    for _ in range(200):
        counts = [float(rng.randint(0, 40)) for _ in range(rng.randint(1, 24))]
        counts[0] += max(0, _SMALL + 1 - int(sum(counts)))  # past the event-by-event path
        p = [rng.choice([rng.random(), rng.uniform(0.0, 1e-3), 1e-22]) for _ in counts]
        k = rng.randint(0, int(sum(counts)))
        assert _sum_of_binomials_pmf(counts, p, k) == _group_by_group_pmf(counts, p, k)


def test_large_tables_agree_with_the_small_path() -> None:
    # past 256 events the pmf is convolved with numpy: the same number as event by event
    import detectors.multinomial as mod

    x = {"a": 40, "b": 30, "c": 10}
    m = {"a": 120, "b": 150, "c": 90}
    w = {"a": 1.5, "b": 0.8, "c": 1.1}
    big = fisher_log_lr(x, m, w)
    small, mod._SMALL = mod._SMALL, 10_000
    try:
        assert fisher_log_lr(x, m, w) == pytest.approx(big, rel=1e-9)
    finally:
        mod._SMALL = small


def _period(rng: np.random.Generator, q: np.ndarray, p: np.ndarray, n_c: float, n_b: float):
    xc = rng.multinomial(rng.poisson(n_c), q)
    yc = rng.multinomial(rng.poisson(n_b), p)
    return {f"c{i}": float(v) for i, v in enumerate(xc)}, {
        f"c{i}": float(v) for i, v in enumerate(yc)
    }


def test_false_alarms_stay_under_alpha_through_a_market_shock() -> None:
    # both sides' causes move together (volatility: requotes x3) and their rates differ:
    # the test must not notice; 400 stages of 150 periods at alpha 5 %
    rng = np.random.default_rng(0)
    alarms = 0
    for _ in range(400):
        t = SequentialMultinomialTest(alpha=0.05)
        for period in range(150):
            p = P * np.where(
                [False, True, True, False, False], 3.0 if 50 < period < 80 else 1.0, 1.0
            )
            p = p / p.sum()
            t.update(*_period(rng, p, p, 1.0, 4.0 * (1.5 if 50 < period < 80 else 1.0)))
        alarms += t.rejected
    assert alarms / 400 <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 400)


def test_a_shift_at_an_unchanged_rate_is_found_and_memory_makes_it_faster() -> None:
    rng = np.random.default_rng(5)
    q = 0.4 * P + 0.6 * np.eye(5)[3]

    def periods_to_reject(memory: float) -> float:
        out = []
        for _ in range(30):
            t = SequentialMultinomialTest(alpha=0.001, memory=memory)
            for _ in range(66):  # 11 healthy minutes first
                t.update(*_period(rng, P, P, 1.0, 4.0))
            n = 0
            while not t.rejected and n < 1000:
                t.update(*_period(rng, q, P, 1.0, 4.0))
                n += 1
            out.append(n)
        return float(np.median(out))

    recent, forever = periods_to_reject(30.0), periods_to_reject(1e9)
    assert recent < 60 and recent < forever


def test_bad_counts_are_refused_before_anything_changes() -> None:
    t = SequentialMultinomialTest()
    t.update({"a": 1.0}, {"a": 2.0, "b": 1.0})
    before = t.state_dict()
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="count of 'a'"):
            t.update({"a": bad}, {"a": 1.0})
    assert t.state_dict() == before
