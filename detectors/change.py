"""Change detection for sustained shifts: a two-sided, robust, self-restarting CUSUM.

Page 1954, "Continuous inspection schemes" (Biometrika 41): accumulate standardised deviations
beyond a slack ``k`` and alarm when the sum passes ``h``. The reference location and scale are
the median and MAD of the first ``warmup`` values (robust to outliers among them); each
standardised value is winsorised to ``±clip`` so one wild point cannot trigger an alarm alone —
only a sustained shift can. After an alarm the detector re-learns its reference from the next
``warmup`` values (the new regime).

False-alarm rate: for independent N(0, 1) data, Siegmund's approximation (Siegmund 1985,
"Sequential analysis") gives a one-sided average run length ``ARL0 ≈ (e^{2kb} - 2kb - 1) / 2k²``
with ``b = h + 1.166``; for the defaults ``k = 0.5, h = 5`` that is ≈ 940 events per side, ≈ 470
for the two-sided detector. ``python -m tests.bench.detectors.change`` measures ARL0 (Gaussian
and heavy-tailed) and the detection delay by simulation. river's ``drift.PageHinkley`` is the same
idea without a robust reference; it is not wrapped because its state is not JSON-able.
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
    """Two-sided robust CUSUM change detector with automatic restart.

    Parameters
    ----------
    k
        Slack in reference standard deviations (half the shift to detect fastest).
    h
        Decision threshold in reference standard deviations.
    warmup
        Values used to learn the reference median and scale (no alarm before).
    clip
        Winsorisation of standardised values (limits the weight of one outlier).

    Examples
    --------
    >>> import random
    >>> from detectors import Cusum
    >>> rng = random.Random(3)
    >>> cusum = Cusum(k=0.5, h=5.0, warmup=50)
    >>> alarms = []
    >>> for i in range(400):
    ...     cusum.update(rng.gauss(10.0 if i < 200 else 11.5, 1.0), ts=float(i))
    ...     if cusum.drift_detected:
    ...         alarms.append((i, cusum.direction))
    >>> alarms
    [(204, 'up')]
    """

    def __init__(self, k: float = 0.5, h: float = 5.0, warmup: int = 50, clip: float = 4.0):
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
        self.center = 0.0
        self.scale = 0.0
        self.pos = 0.0
        self.neg = 0.0
        self.direction: str | None = None
        self._detected = False
        self._buffer: list[float] = []

    @property
    def ready(self) -> bool:
        """True when a reference is learned (False again for ``warmup`` values after an alarm)."""
        return not self._buffer and self.n >= self.warmup

    @property
    def drift_detected(self) -> bool:
        """True only on the update that raised the alarm."""
        return self._detected

    def update(self, value: float, ts: float = 0.0) -> None:
        """Add one value (``ts`` kept for the common protocol; the CUSUM runs per event)."""
        self.n += 1
        self._detected = False
        if self._buffer or self.scale <= 0.0:
            self._learn(value)
            return
        z = (value - self.center) / self.scale
        z = self.clip if z > self.clip else -self.clip if z < -self.clip else z
        self.pos = max(0.0, self.pos + z - self.k)
        self.neg = max(0.0, self.neg - z - self.k)
        if self.pos > self.h or self.neg > self.h:
            self.direction = "up" if self.pos > self.h else "down"
            self._detected = True
            self.alarms += 1
            self.pos = self.neg = 0.0
            self.scale = 0.0  # re-learn the reference from the new regime

    def _learn(self, value: float) -> None:
        self._buffer.append(value)
        if len(self._buffer) < self.warmup:
            return
        ordered = sorted(self._buffer)
        mid = len(ordered) // 2
        self.center = ordered[mid] if len(ordered) % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])
        devs = sorted(abs(x - self.center) for x in ordered)
        mad = devs[mid] if len(devs) % 2 else 0.5 * (devs[mid - 1] + devs[mid])
        # MAD is 0 on constant or mostly-constant input; fall back to the mean deviation, then to
        # a tiny relative scale, so a later change is still detected rather than dividing by 0.
        spread = 1.4826 * mad or math.fsum(devs) / len(devs) * 1.2533
        self.scale = spread or 1e-9 * max(abs(self.center), 1.0)
        self._buffer = []

    def get(self) -> float | None:
        """The larger of the two CUSUM statistics (in reference SDs), or None before warm-up."""
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
            "center": self.center,
            "scale": self.scale,
            "pos": self.pos,
            "neg": self.neg,
            "direction": self.direction,
            "detected": self._detected,
            "buffer": list(self._buffer),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild from :meth:`state_dict` output."""
        check_state(cls, state)
        obj = cls(k=state["k"], h=state["h"], warmup=state["warmup"], clip=state["clip"])
        obj.n = int(state["n"])
        obj.alarms = int(state["alarms"])
        obj.center = float(state["center"])
        obj.scale = float(state["scale"])
        obj.pos = float(state["pos"])
        obj.neg = float(state["neg"])
        obj.direction = state["direction"]
        obj._detected = bool(state["detected"])
        obj._buffer = [float(x) for x in state["buffer"]]
        return obj
