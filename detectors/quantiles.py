"""Streaming quantiles with a relative-error guarantee: a DDSketch-style log-bucket sketch.

Masson, Rim & Lee 2019, "DDSketch: a fast and fully-mergeable quantile sketch with
relative-error guarantees" (VLDB 12(12)). A positive value ``x`` goes to bucket
``ceil(log_γ x)`` with ``γ = (1 + α) / (1 - α)``; the bucket's representative ``2 γ^i / (γ + 1)``
is within relative error ``α`` of every value in it, so any quantile returned is within ``α`` of
the true sample quantile (the value of rank ``⌊q (n - 1)⌋``) — the bound holds for any input
distribution, heavy tails included. Two sketches with the same ``α`` merge exactly by adding
bucket counts. Negative values use a mirrored store; values with ``|x| < min_value`` count as 0.

Why this one (``python -m tests.bench.detectors.cost`` prints the comparison): river's P²
quantile is ~3x faster per update and can be accurate on a stationary stream, but it states no
error bound (measured here: +6% on a lognormal p99), cannot merge the sketches
of several segments or workers, and cannot decay in event time. A pure-Python dict of buckets
costs ~0.25 µs per update with α = 1%, and its state is a few hundred numbers. With ``max_bins``
the lowest buckets are collapsed (as DDSketch's collapsing-lowest store): the guarantee then
holds for every quantile within a factor ``γ^max_bins`` below the largest value (about 27,000x
for the defaults α = 1%, 512 bins) — the upper quantiles we alert on; lower ones lose it first.

Time decay (optional ``half_life`` in seconds) uses forward decay (Cormode et al. 2009, "Forward
decay: a practical time decay model for streaming systems"): an event at ``ts`` is added with
weight ``2^((ts - t0) / half_life)``, which is equivalent to decaying every older count, in O(1);
counts are renormalised when the weights grow large.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Self

from detectors._common import check_positive, check_state, check_unit, header

_RENORM = 1e100


class QuantileSketch:
    """Relative-error streaming quantile sketch (DDSketch-like), mergeable, optionally time-decayed.

    Parameters
    ----------
    relative_accuracy
        α: every quantile is within ``α × |true value|`` of the sample quantile.
    max_bins
        Bound on buckets per sign; the lowest are merged beyond it (state stays small).
    half_life
        Optional seconds after which an observation's weight halves (None: no decay).
    min_samples
        Observations before ``ready``.
    min_value
        Magnitudes below this count as zero.

    Examples
    --------
    >>> from detectors import QuantileSketch
    >>> qs = QuantileSketch(relative_accuracy=0.01)
    >>> for i in range(1, 1001):
    ...     qs.update(float(i), ts=float(i))
    >>> p99 = qs.quantile(0.99)
    >>> abs(p99 - 990.0) / 990.0 <= 0.01
    True
    >>> [round(v) for v in qs.quantiles([0.5, 0.95])]
    [498, 944]
    """

    def __init__(
        self,
        relative_accuracy: float = 0.01,
        max_bins: int = 512,
        half_life: float | None = None,
        min_samples: int = 20,
        min_value: float = 1e-9,
    ) -> None:
        check_unit("relative_accuracy", relative_accuracy)
        check_positive("half_life", half_life, allow_none=True)
        check_positive("min_value", min_value)
        if max_bins < 8:
            raise ValueError(f"max_bins must be >= 8, got {max_bins!r}")
        self.relative_accuracy = float(relative_accuracy)
        self.max_bins = int(max_bins)
        self.half_life = None if half_life is None else float(half_life)
        self.min_samples = int(min_samples)
        self.min_value = float(min_value)
        self._gamma = (1.0 + relative_accuracy) / (1.0 - relative_accuracy)
        self._inv_log_gamma = 1.0 / math.log(self._gamma)
        self._pos: dict[int, float] = {}
        self._neg: dict[int, float] = {}
        self._zero = 0.0
        self.n = 0
        self._t0: float | None = None  # forward-decay landmark
        self._lam = 0.0 if half_life is None else math.log(2.0) / half_life

    @property
    def ready(self) -> bool:
        """True once ``min_samples`` observations were seen."""
        return self.n >= self.min_samples

    @property
    def count(self) -> float:
        """Total (decayed, relative to the landmark) weight in the sketch."""
        return self._zero + sum(self._pos.values()) + sum(self._neg.values())

    def _weight(self, ts: float) -> float:
        if self._lam == 0.0:
            return 1.0
        if self._t0 is None:
            self._t0 = ts
        w = math.exp(self._lam * (ts - self._t0))
        if w > _RENORM:
            self._rescale(1.0 / w)
            self._t0 = ts
            w = 1.0
        return w

    def _rescale(self, factor: float) -> None:
        for store in (self._pos, self._neg):
            for k in store:
                store[k] *= factor
        self._zero *= factor

    def update(self, value: float, ts: float = 0.0) -> None:
        """Add one value observed at event time ``ts`` (ts only matters with a half-life)."""
        if not (math.isfinite(value) and math.isfinite(ts)):  # bad input is not data: ignore it
            return
        w = 1.0 if self._lam == 0.0 else self._weight(ts)
        self.n += 1
        if value > self.min_value:
            key = math.ceil(math.log(value) * self._inv_log_gamma)
            store = self._pos
        elif value < -self.min_value:
            key = math.ceil(math.log(-value) * self._inv_log_gamma)
            store = self._neg
        else:
            self._zero += w
            return
        store[key] = store.get(key, 0.0) + w
        if len(store) > self.max_bins:
            self._collapse(store, lowest=store is self._pos)

    def _collapse(self, store: dict[int, float], *, lowest: bool) -> None:
        # Positive store: merge the lowest keys (smallest values); negative store: the highest
        # keys (most negative values), so the upper quantiles keep their guarantee.
        keys = sorted(store, reverse=not lowest)
        extra = len(keys) - self.max_bins
        target = keys[extra]
        for k in keys[:extra]:
            store[target] += store.pop(k)

    def _value(self, key: int) -> float:
        return 2.0 * self._gamma**key / (self._gamma + 1.0)

    def quantiles(self, qs: list[float]) -> list[float]:
        """Several quantiles in one pass (each in [0, 1]); NaN if the sketch is empty."""
        total = self.count
        if total <= 0.0:
            return [math.nan for _ in qs]
        # Ordered (value, weight) buckets from most negative to most positive.
        buckets = [(-self._value(k), self._neg[k]) for k in sorted(self._neg, reverse=True)]
        if self._zero > 0.0:
            buckets.append((0.0, self._zero))
        buckets += [(self._value(k), self._pos[k]) for k in sorted(self._pos)]
        out: list[float] = []
        for q in qs:
            check_unit("q", q, closed=True)
            rank = q * (total - 1.0) if total > 1.0 else 0.0
            acc = 0.0
            result = buckets[-1][0]
            for value, weight in buckets:
                acc += weight
                if acc > rank:
                    result = value
                    break
            out.append(result)
        return out

    def quantile(self, q: float) -> float:
        """The ``q``-quantile (NaN when empty)."""
        return self.quantiles([q])[0]

    def get(self) -> float | None:
        """Median, or None before warm-up."""
        return self.quantile(0.5) if self.ready else None

    def merge(self, other: QuantileSketch) -> None:
        """Add another sketch's counts (same ``relative_accuracy``; undecayed sketches only)."""
        if other.relative_accuracy != self.relative_accuracy:
            raise ValueError("cannot merge sketches with different relative_accuracy")
        if self._lam or other._lam:
            raise ValueError("merge needs sketches without half_life (landmarks differ)")
        for mine, theirs, lowest in ((self._pos, other._pos, True), (self._neg, other._neg, False)):
            for k, c in theirs.items():
                mine[k] = mine.get(k, 0.0) + c
            if len(mine) > self.max_bins:
                self._collapse(mine, lowest=lowest)
        self._zero += other._zero
        self.n += other.n

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state (bucket keys as strings, as JSON objects require)."""
        return {
            **header(self),
            "relative_accuracy": self.relative_accuracy,
            "max_bins": self.max_bins,
            "half_life": self.half_life,
            "min_samples": self.min_samples,
            "min_value": self.min_value,
            "pos": {str(k): v for k, v in self._pos.items()},
            "neg": {str(k): v for k, v in self._neg.items()},
            "zero": self._zero,
            "n": self.n,
            "t0": self._t0,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild from :meth:`state_dict` output."""
        check_state(cls, state)
        obj = cls(
            relative_accuracy=state["relative_accuracy"],
            max_bins=state["max_bins"],
            half_life=state["half_life"],
            min_samples=state["min_samples"],
            min_value=state["min_value"],
        )
        obj._pos = {int(k): float(v) for k, v in state["pos"].items()}
        obj._neg = {int(k): float(v) for k, v in state["neg"].items()}
        obj._zero = float(state["zero"])
        obj.n = int(state["n"])
        obj._t0 = None if state["t0"] is None else float(state["t0"])
        return obj
