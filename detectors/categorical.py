"""Categorical mix (e.g. rejection causes) and how far two mixes are apart.

Divergence: Jensen–Shannon (Lin 1991, "Divergence measures based on the Shannon entropy", IEEE
Trans. Inf. Theory 37(1)) in bits, so it lies in [0, 1], is symmetric and finite even when a cause
appears on one side only; counts get additive (Dirichlet) smoothing first so a single new cause
in a handful of events does not look like a total change. Test: Pearson's chi-square on the
2 × k contingency table (``scipy.stats.chi2_contingency``), for a p-value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Self

import numpy as np
from scipy.stats import chi2_contingency

from detectors._common import check_positive, check_state, decay_factor, header


def jensen_shannon(p: Mapping[str, float], q: Mapping[str, float], smoothing: float = 0.5) -> float:
    """Jensen–Shannon divergence (bits, in [0, 1]) between two count maps, after adding
    ``smoothing`` to every category seen on either side.

    Examples
    --------
    >>> jensen_shannon({"a": 10, "b": 10}, {"a": 10, "b": 10})
    0.0
    >>> round(jensen_shannon({"a": 100}, {"b": 100}, smoothing=0.0), 6)
    1.0
    """
    keys = sorted(set(p) | set(q))
    if not keys:
        return 0.0
    pa = np.array([p.get(k, 0.0) for k in keys], dtype=float) + smoothing
    qa = np.array([q.get(k, 0.0) for k in keys], dtype=float) + smoothing
    if pa.sum() <= 0 or qa.sum() <= 0:
        return 0.0
    pa /= pa.sum()
    qa /= qa.sum()
    m = 0.5 * (pa + qa)

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / b[mask])))

    return max(0.0, min(1.0, 0.5 * kl(pa, m) + 0.5 * kl(qa, m)))


def chi_square_pvalue(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """p-value of Pearson's chi-square test that two count maps share one mix (1.0 if < 2
    categories or an empty side).

    Examples
    --------
    >>> chi_square_pvalue({"a": 50, "b": 50}, {"a": 50, "b": 50})
    1.0
    >>> chi_square_pvalue({"a": 90, "b": 10}, {"a": 40, "b": 60}) < 1e-6
    True
    """
    keys = sorted(k for k in set(p) | set(q) if p.get(k, 0.0) + q.get(k, 0.0) > 0)
    if len(keys) < 2:
        return 1.0
    table = np.array([[p.get(k, 0.0) for k in keys], [q.get(k, 0.0) for k in keys]], dtype=float)
    if table[0].sum() <= 0 or table[1].sum() <= 0:
        return 1.0
    return float(chi2_contingency(table, correction=False).pvalue)


class CategoricalMix:
    """Counts per category, optionally time-decayed, with divergence to another mix.

    Parameters
    ----------
    half_life
        Optional seconds after which an event's weight halves (None: cumulative).
    min_samples
        Events before ``ready``.

    Examples
    --------
    >>> from detectors import CategoricalMix
    >>> base, canary = CategoricalMix(), CategoricalMix()
    >>> for i in range(100):
    ...     base.update("price" if i % 4 else "margin", ts=float(i))
    ...     canary.update("price" if i % 2 else "margin", ts=float(i))
    >>> base.distribution()["margin"], canary.distribution()["margin"]
    (0.25, 0.5)
    >>> round(base.divergence(canary), 3)
    0.048
    """

    def __init__(self, half_life: float | None = None, min_samples: int = 1) -> None:
        check_positive("half_life", half_life, allow_none=True)
        self.half_life = None if half_life is None else float(half_life)
        self.min_samples = int(min_samples)
        self.n = 0
        self.counts: dict[str, float] = {}
        self.last_ts: float | None = None

    @property
    def ready(self) -> bool:
        """True once ``min_samples`` events were seen."""
        return self.n >= self.min_samples

    def update(self, category: str, ts: float = 0.0) -> None:
        """Count one event of ``category`` at event time ``ts``."""
        if self.last_ts is not None and ts > self.last_ts:
            f = decay_factor(ts - self.last_ts, self.half_life)
            if f != 1.0:
                for k in self.counts:
                    self.counts[k] *= f
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts
        self.n += 1
        self.counts[category] = self.counts.get(category, 0.0) + 1.0

    def distribution(self) -> dict[str, float]:
        """Share of each category (empty before any event)."""
        total = math.fsum(self.counts.values())
        return {k: v / total for k, v in self.counts.items()} if total > 0 else {}

    def divergence(self, other: CategoricalMix, smoothing: float = 0.5) -> float:
        """Jensen–Shannon divergence (bits) between this mix and ``other``."""
        return jensen_shannon(self.counts, other.counts, smoothing)

    def pvalue(self, other: CategoricalMix) -> float:
        """Chi-square p-value that both mixes are the same (on current, possibly decayed counts)."""
        return chi_square_pvalue(self.counts, other.counts)

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            **header(self),
            "half_life": self.half_life,
            "min_samples": self.min_samples,
            "n": self.n,
            "counts": dict(self.counts),
            "last_ts": self.last_ts,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild from :meth:`state_dict` output."""
        check_state(cls, state)
        obj = cls(half_life=state["half_life"], min_samples=state["min_samples"])
        obj.n = int(state["n"])
        obj.counts = {str(k): float(v) for k, v in state["counts"].items()}
        obj.last_ts = None if state["last_ts"] is None else float(state["last_ts"])
        return obj
