"""The slowdown test's groups, odds and per-step evidence."""

from __future__ import annotations

import numpy as np

from detectors.slowdown import group_counts, quantile_edges, shift_odds, slowdown_log_lr
from monitor.core.buckets import latency_bin


def _hist(latencies: np.ndarray) -> dict[int, int]:
    out: dict[int, int] = {}
    for x in latencies:
        b = latency_bin(float(x))
        out[b] = out.get(b, 0) + 1
    return out


def _sample(rng: np.random.Generator, n: int, scale: float = 1.0) -> np.ndarray:
    """A two-cluster latency mix: near orders (lognormal) and far ones (fixed network time)."""
    far = rng.random(n) < 0.15
    near = np.exp(rng.normal(np.log(10.0), 0.45, n))
    return np.where(far, 56.0 + near, near) * scale


def test_groups_split_the_reference_into_equal_shares() -> None:
    rng = np.random.default_rng(0)
    ref = _hist(_sample(rng, 4000))
    edges = quantile_edges(ref, 20)
    counts = group_counts(ref, edges)
    shares = np.array([counts.get(g, 0.0) for g in range(len(edges) + 1)]) / 4000
    assert len(edges) == 19 and np.all(np.abs(shares - 0.05) < 0.02)


def test_odds_weigh_the_narrow_cluster_most() -> None:
    rng = np.random.default_rng(1)
    ref = _hist(_sample(rng, 4000))
    edges = quantile_edges(ref, 20)
    odds = shift_odds(ref, edges, np.log(1.06) / np.log(1.02))
    assert min(odds.values()) >= 1 / 8 and max(odds.values()) <= 8
    assert odds[len(edges)] > 1.0 and odds[0] < 1.0  # mass leaves the bottom, joins the top
    # the far cluster's groups (the top 15 %) move more than the middle ones
    assert max(odds[g] for g in range(17, 20)) > max(odds[g] for g in range(6, 12))


def test_step_evidence_is_negative_on_average_under_the_null_and_positive_when_slower() -> None:
    rng = np.random.default_rng(2)
    ref = _hist(_sample(rng, 2000))
    edges = quantile_edges(ref, 20)
    odds = shift_odds(ref, edges, np.log(1.06) / np.log(1.02))
    null = [
        slowdown_log_lr(_hist(_sample(rng, 8)), _hist(_sample(rng, 32)), edges, odds)
        for _ in range(600)
    ]
    slower = [
        slowdown_log_lr(_hist(_sample(rng, 8, 1.10)), _hist(_sample(rng, 32)), edges, odds)
        for _ in range(600)
    ]
    assert np.mean(null) < 0 < np.mean(slower)
    # a likelihood ratio: its mean under the null is at most 1
    assert np.mean(np.exp(null)) < 1.1


def test_no_orders_or_no_groups_is_no_evidence() -> None:
    assert slowdown_log_lr({}, {10: 3}, [5], {0: 1.0, 1: 1.0}) == 0.0
    assert slowdown_log_lr({10: 3}, {10: 3}, [], {}) == 0.0
