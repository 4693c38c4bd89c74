"""Robust running location and scale: an exponentially weighted median and MAD.

Each quantile is tracked by stochastic approximation (Robbins & Monro 1951; the "frugal
streaming" median of Ma, Muthukrishnan & Sandler 2013): the estimate moves up or down by a step
proportional to the current scale, so one outlier can move it by at most one step however large
it is. Steps shrink with the number of observations at first (a running median of the warm-up
sample) and then stay at a floor set by the half-life, which keeps the estimate adaptive. The first
``min_samples`` values are kept and give the exact starting median and MAD, so an outlier among
the first values cannot bias the start.
Constant input gives MAD = 0; callers must handle it (``zscore`` returns None).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Self

from detectors._common import check_positive, check_state, header


class RobustBaseline:
    """Exponentially weighted median and median absolute deviation (MAD) of one series.

    Parameters
    ----------
    half_life
        Adaptation speed in events: once warmed up, the step size is that of an exponential
        average with this half-life.
    min_samples
        Observations before ``ready``.

    Examples
    --------
    >>> import random
    >>> from detectors import RobustBaseline
    >>> rng = random.Random(1)
    >>> rb = RobustBaseline(half_life=200, min_samples=20)
    >>> for i in range(2000):
    ...     x = rng.gauss(100.0, 5.0) if i % 50 else 1e6  # 2% huge outliers
    ...     rb.update(x, float(i))
    >>> 98.0 < rb.median < 102.0 and 2.8 < rb.mad < 4.2  # MAD of N(100, 5) is 3.37
    True
    >>> 3.0 < rb.zscore(120.0) < 4.5  # 4 sigmas, as seen by a slightly wide MAD
    True
    """

    def __init__(self, half_life: float = 500.0, min_samples: int = 20) -> None:
        check_positive("half_life", half_life)
        if min_samples < 1:
            raise ValueError(f"min_samples must be >= 1, got {min_samples!r}")
        self.half_life = float(half_life)
        self.min_samples = int(min_samples)
        self._floor = 1.0 - 2.0 ** (-1.0 / self.half_life)  # per-event EW step at steady state
        self.n = 0
        self.median = 0.0
        self.mad = 0.0
        self._scale = 0.0  # mean absolute deviation, sets the step size
        self._warmup: list[float] = []

    @property
    def ready(self) -> bool:
        """True once ``min_samples`` observations were seen."""
        return self.n >= self.min_samples

    def update(self, value: float, ts: float) -> None:
        """Add one observation (``ts`` is accepted for the common protocol; steps are per event)."""
        if not math.isfinite(value):  # bad input is not data: ignore it
            return
        self.n += 1
        if self.n <= self.min_samples:
            self._start(value)
            return
        rate = max(1.0 / self.n, self._floor)
        dev = value - self.median
        adev = abs(dev)
        # Scale of the step: mean absolute deviation, itself updated with a clipped value so a
        # single outlier cannot inflate it more than a bounded amount.
        scale = self._scale
        self._scale = scale + rate * (min(adev, 4.0 * scale if scale > 0 else adev) - scale)
        step = rate * 1.5 * max(self._scale, 1e-12 * abs(self.median))
        if dev > 0:
            self.median += min(step, dev)
        elif dev < 0:
            self.median -= min(step, -dev)
        # Median of |x - median| by the same sign rule, with its own scale.
        mdev = adev - self.mad
        mstep = rate * 1.5 * max(self._scale, 0.0)
        if mdev > 0:
            self.mad += min(mstep, mdev)
        elif mdev < 0:
            self.mad -= min(mstep, -mdev)

    def _start(self, value: float) -> None:
        buf = self._warmup
        buf.append(value)
        ordered = sorted(buf)
        self.median = _median(ordered)
        devs = sorted(abs(x - self.median) for x in buf)
        self.mad = _median(devs)
        # Mean absolute deviation is 1.18 MAD for a normal sample; take it from the MAD so an
        # outlier in the warm-up cannot inflate the step size.
        self._scale = 1.18 * self.mad if self.mad > 0 else sum(devs) / len(devs)
        if len(buf) == self.min_samples:
            self._warmup = []

    def get(self) -> float | None:
        """Median, or None before warm-up."""
        return self.median if self.ready else None

    def zscore(self, value: float) -> float | None:
        """Robust z: ``(value - median) / (1.4826 MAD)``; None before warm-up or if MAD is 0."""
        if not self.ready or self.mad <= 0.0:
            return None
        return (value - self.median) / (1.4826 * self.mad)

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            **header(self),
            "half_life": self.half_life,
            "min_samples": self.min_samples,
            "n": self.n,
            "median": self.median,
            "mad": self.mad,
            "scale": self._scale,
            "warmup": list(self._warmup),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild from :meth:`state_dict` output."""
        check_state(cls, state)
        obj = cls(half_life=state["half_life"], min_samples=state["min_samples"])
        obj.n = int(state["n"])
        obj.median = float(state["median"])
        obj.mad = float(state["mad"])
        obj._scale = float(state["scale"])
        obj._warmup = [float(x) for x in state["warmup"]]
        return obj


def _median(ordered: list[float]) -> float:
    k = len(ordered)
    mid = k // 2
    return ordered[mid] if k % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])
