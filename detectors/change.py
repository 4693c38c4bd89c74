"""Change detection for sustained shifts: a two-sided, robust, self-starting CUSUM.

Page 1954, "Continuous inspection schemes" (Biometrika 41): accumulate standardised deviations
beyond a slack ``k`` and alarm when the sum passes ``h``. A CUSUM whose reference mean and SD are
estimated from a short warm-up has a far shorter in-control run length than the textbook one
(an underestimated SD inflates every z). We therefore standardise each value against the mean and
SD of *all* earlier values since the last restart, as Hawkins' self-starting CUSUM does (Hawkins
1987, "Self-starting CUSUM charts for location and scale", The Statistician 36): the statistic
``T = (x_n - x̄_{n-1}) / s_{n-1} · √((n-1)/n)`` is Student-t with ``n - 2`` degrees of freedom
for normal data, mapped to a standard normal with Wallace's approximation (1959). Values are
winsorised to ``±clip`` before they enter the CUSUM and the running moments, so a single wild
point cannot raise an alarm nor inflate the reference; only a sustained shift can. After an
alarm the detector restarts on the new regime.

False-alarm rate: for independent N(0, 1) data Siegmund's approximation (Siegmund 1985,
"Sequential analysis") gives a one-sided average run length ``ARL0 ≈ (e^{2kb} - 2kb - 1) / 2k²``
with ``b = h + 1.166``: for ``k = 0.5, h = 5`` ≈ 940 per side (≈ 470 two-sided); for the
default ``h = 8`` ≈ 19,000 per side (≈ 9,500 two-sided). Self-starting costs some of that in
the first hundred values after a restart.
``python -m tests.bench.detectors.change`` measures ARL0 (Gaussian and heavy-tailed) and the
detection delay by simulation. river's ``drift.PageHinkley`` is the same idea with a running
mean and no scale; it is not wrapped because its state is not JSON-able.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Self

from detectors._common import check_positive, check_state, header


def siegmund_arl0(k: float, h: float) -> float:
    """Siegmund's approximation of the one-sided CUSUM in-control average run length.

    Examples
    --------
    >>> round(siegmund_arl0(0.5, 5.0))
    938
    """
    b = h + 1.166
    return (math.exp(2.0 * k * b) - 2.0 * k * b - 1.0) / (2.0 * k * k)


class Cusum:
    """Two-sided robust self-starting CUSUM change detector with automatic restart.

    Parameters
    ----------
    k
        Slack in standard deviations (half the shift to detect fastest).
    h
        Decision threshold in standard deviations.
    warmup
        Values since a (re)start before an alarm may be raised.
    clip
        Winsorisation of standardised values (limits the weight of one outlier).

    Examples
    --------
    >>> import random
    >>> from detectors import Cusum
    >>> rng = random.Random(3)
    >>> cusum = Cusum(k=0.5, h=8.0, warmup=30)
    >>> alarms = []
    >>> for i in range(400):
    ...     cusum.update(rng.gauss(10.0 if i < 200 else 11.5, 1.0), ts=float(i))
    ...     if cusum.drift_detected:
    ...         alarms.append((i, cusum.direction))
    >>> alarms
    [(206, 'up')]
    """

    def __init__(self, k: float = 0.5, h: float = 8.0, warmup: int = 30, clip: float = 4.0):
        check_positive("k", k)
        check_positive("h", h)
        check_positive("clip", clip)
        if warmup < 5:
            raise ValueError(f"warmup must be >= 5, got {warmup!r}")
        self.k = float(k)
        self.h = float(h)
        self.warmup = int(warmup)
        self.clip = float(clip)
        self.n = 0
        self.alarms = 0
        self.count = 0  # values since the last (re)start
        self.mean = 0.0
        self.m2 = 0.0
        self.pos = 0.0
        self.neg = 0.0
        self.direction: str | None = None
        self._detected = False

    @property
    def ready(self) -> bool:
        """True once ``warmup`` values were seen since the last (re)start."""
        return self.count >= self.warmup

    @property
    def drift_detected(self) -> bool:
        """True only on the update that raised the alarm."""
        return self._detected

    def update(self, value: float, ts: float = 0.0) -> None:
        """Add one value (``ts`` kept for the common protocol; the CUSUM runs per event)."""
        if not math.isfinite(value):  # bad input is not data: ignore it
            return
        self.n += 1
        self._detected = False
        c = self.count
        if c >= 2 and self.m2 > 0.0:
            sd = math.sqrt(self.m2 / (c - 1))
            t = (value - self.mean) / sd * math.sqrt(c / (c + 1.0))
            z = _t_to_z(t, c - 1)
            z = self.clip if z > self.clip else -self.clip if z < -self.clip else z
            # The running moments learn the winsorised value, so an outlier cannot inflate them.
            value = self.mean + z * sd / math.sqrt(c / (c + 1.0))
            if c >= self.warmup:
                self.pos = max(0.0, self.pos + z - self.k)
                self.neg = max(0.0, self.neg - z - self.k)
                if self.pos > self.h or self.neg > self.h:
                    self.direction = "up" if self.pos > self.h else "down"
                    self._detected = True
                    self.alarms += 1
                    self.pos = self.neg = 0.0
                    self.count, self.mean, self.m2 = 1, value, 0.0  # restart on the new regime
                    return
        self.count = c + 1
        delta = value - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (value - self.mean)

    def get(self) -> float | None:
        """The larger of the two CUSUM statistics (in SDs), or None before warm-up."""
        return max(self.pos, self.neg) if self.ready else None

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            **header(self),
            "k": self.k,
            "h": self.h,
            "warmup": self.warmup,
            "clip": self.clip,
            "n": self.n,
            "alarms": self.alarms,
            "count": self.count,
            "mean": self.mean,
            "m2": self.m2,
            "pos": self.pos,
            "neg": self.neg,
            "direction": self.direction,
            "detected": self._detected,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild from :meth:`state_dict` output."""
        check_state(cls, state)
        obj = cls(k=state["k"], h=state["h"], warmup=state["warmup"], clip=state["clip"])
        obj.n = int(state["n"])
        obj.alarms = int(state["alarms"])
        obj.count = int(state["count"])
        obj.mean = float(state["mean"])
        obj.m2 = float(state["m2"])
        obj.pos = float(state["pos"])
        obj.neg = float(state["neg"])
        obj.direction = state["direction"]
        obj._detected = bool(state["detected"])
        return obj


def _t_to_z(t: float, nu: int) -> float:
    """Student-t value with ``nu`` degrees of freedom to a standard normal quantile
    (Wallace 1959, "Bounds on normal approximations to Student's and the chi-square
    distributions", Ann. Math. Stat. 30)."""
    if nu > 1000:
        return t
    z = math.sqrt(nu * math.log1p(t * t / nu)) * (8.0 * nu + 1.0) / (8.0 * nu + 3.0)
    return z if t >= 0.0 else -z
