"""Per-step evidence that the canary's latencies are the baseline's scaled up (a slowdown).

Each step, both variants' orders are put into the ``groups`` latency groups between the
baseline's quantiles over a reference window (computed before the step, so they never
depend on the step they judge). Null hypothesis: in this step a canary order and a baseline
order have the same latency distribution, whatever it is (a market-wide slowdown moves
both). Given the step's pooled counts per group and the canary's number of orders, the
canary's counts are then multivariate hypergeometric; the alternative is Fisher's noncentral
one with odds ``w_g = P(g | baseline × ratio) / P(g | baseline)`` read off the reference
histogram (:func:`detectors.multinomial.fisher_log_lr`). So the groups where a slowdown
moves most orders (a narrow cluster: orders from a far region with a fixed network time)
weigh most, without knowing the shape in advance, and the step's log-likelihood ratio has
expectation <= 0 under the null: a CUSUM of it (:meth:`detectors.BernoulliCusum.add`)
keeps Page's false-alarm guarantee. Rules reach it with ``threshold: {kind: vs_baseline,
method: slowdown}`` (``monitor.core.thresholds.slowdown``).

Measured on the simulator (``rollguard bench detection -s latency_drift``): at +2 %/minute
from a steady start, groups between the baseline's quantiles stop the drift several minutes
before counting the canary's orders above the baseline's median does (both at 20 % of the
flow): the median sees a scale change only through the orders near it.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Self

import numpy as np

from detectors._common import check_positive
from detectors.multinomial import fisher_log_lr

ODDS_CLIP: float = 8.0
"""Odds of a group are held within [1/8, 8]: a group the reference barely fills must not
make one order decisive."""


def quantile_edges(ref: Mapping[int, int], groups: int) -> list[int]:
    """Bins at which the reference's cumulative count crosses ``g / groups`` (distinct,
    increasing): the upper edges of the groups but the last.

    >>> quantile_edges({1: 5, 2: 5, 3: 5, 4: 5}, 4)
    [1, 2, 3]
    """
    check_positive("groups", groups)
    bins = sorted(b for b, k in ref.items() if k > 0)
    total = sum(ref[b] for b in bins)
    edges: list[int] = []
    seen, g = 0, 1
    for b in bins:
        seen += ref[b]
        while g < groups and seen >= g * total / groups:
            if not edges or edges[-1] != b:
                edges.append(b)
            g += 1
    return [b for b in edges if b != bins[-1]]  # the top group must not be empty


def group_counts(hist: Mapping[int, int], edges: list[int]) -> dict[int, float]:
    """Counts per group (group ``g``: bins above ``edges[g-1]`` up to ``edges[g]``)."""
    out: dict[int, float] = {}
    for b, k in hist.items():
        if k:
            g = bisect.bisect_left(edges, b)
            out[g] = out.get(g, 0.0) + k
    return out


def shift_odds(ref: Mapping[int, int], edges: list[int], shift_bins: float) -> dict[int, float]:
    """Odds per group of the reference shifted up by ``shift_bins`` bins (scaled by
    ``GAMMA ** shift_bins``) against the reference itself, from its histogram (the
    cumulative count interpolated linearly between bins, half an order added per group).

    >>> odds = shift_odds({1: 10, 2: 10, 3: 10, 4: 10}, [1, 2, 3], 1.0)
    >>> [round(odds[g], 2) for g in range(4)]
    [0.12, 1.0, 1.0, 1.95]
    """
    keys = sorted(b for b, k in ref.items() if k > 0)
    bins = np.array(keys, dtype=np.float64)
    cum = np.cumsum([ref[b] for b in keys]).astype(np.float64)  # not per numpy scalar: 3x
    total = float(cum[-1])

    def cdf(x: np.ndarray) -> np.ndarray:  # share of the reference at or below bin x
        share: np.ndarray = np.interp(x, bins, cum, left=0.0, right=total) / total
        return share

    e = np.array(edges, dtype=np.float64)
    null = np.diff(np.concatenate(([0.0], cdf(e), [1.0])))
    alt = np.diff(np.concatenate(([0.0], cdf(e - shift_bins), [1.0])))
    half = 0.5 / total
    odds = np.clip((alt + half) / (null + half), 1.0 / ODDS_CLIP, ODDS_CLIP)
    return {g: float(o) for g, o in enumerate(odds)}


def slowdown_log_lr(
    canary: Mapping[int, int],
    baseline: Mapping[int, int],
    edges: list[int],
    odds: Mapping[int, float],
) -> float:
    """Log-likelihood ratio of one step's histograms: canary slower by the odds' shift vs
    the same distribution (0 without orders on both sides or without groups).

    >>> ref = {b: 10 for b in range(1, 41)}
    >>> edges = quantile_edges(ref, 10)
    >>> odds = shift_odds(ref, edges, 4.0)
    >>> slowdown_log_lr({38: 3, 40: 3}, {5: 6, 20: 6, 39: 2}, edges, odds) > 0
    True
    >>> slowdown_log_lr({5: 3, 8: 3}, {5: 6, 20: 6, 39: 2}, edges, odds) < 0
    True
    """
    if not edges or not canary or not baseline:
        return 0.0
    x = group_counts(canary, edges)
    m = group_counts(baseline, edges)
    for g, k in x.items():
        m[g] = m.get(g, 0.0) + k
    llr = fisher_log_lr(x, m, odds)
    return llr if math.isfinite(llr) else 0.0


@dataclass(frozen=True, slots=True)
class SlowdownGroups:
    """The groups one step is judged with and their odds under "``ratio`` x slower",
    from a reference histogram (``bin -> count``, :mod:`monitor.core.buckets` bins of ratio
    ``gamma``); :meth:`log_lr` is a step's evidence. Empty groups: no evidence. A value,
    not a streaming detector: whoever keeps it checkpoints its two tuples.

    >>> ref = {b: 10 for b in range(1, 41)}
    >>> g = SlowdownGroups.from_reference(ref, groups=10, ratio=1.08, gamma=1.02)
    >>> len(g.edges), g.log_lr({38: 3, 40: 3}, {5: 6, 20: 6, 39: 2}) > 0
    (9, True)
    """

    edges: tuple[int, ...] = ()
    odds: tuple[float, ...] = ()

    @classmethod
    def from_reference(
        cls, ref: Mapping[int, int], *, groups: int, ratio: float, gamma: float
    ) -> Self:
        check_positive("ratio", ratio)
        if not any(k > 0 for k in ref.values()):
            return cls()
        edges = quantile_edges(ref, groups)
        odds = shift_odds(ref, edges, math.log(ratio) / math.log(gamma))
        return cls(tuple(edges), tuple(odds[g] for g in range(len(edges) + 1)))

    def log_lr(self, canary: Mapping[int, int], baseline: Mapping[int, int]) -> float:
        return slowdown_log_lr(canary, baseline, list(self.edges), dict(enumerate(self.odds)))
