"""Seasonal context for the anomaly scorer: time-of-day and time-of-week profiles.

Each profile holds, per bucket of its period, an exponentially weighted mean of the offset
``x - level`` (clipped, so one anomaly moves a bucket by a bounded step) and, for the profile as
a whole, the mean absolute residual it leaves. The scorer subtracts the offset of the profile
that explains the series best — the one with the smallest residual, and only when it is clearly
smaller (``GAIN``) than the residual with no profile — so a daily or weekly pattern is
*expected*, and what breaks it stands out. A profile speaks only after its buckets were seen
in ``MIN_VISITS`` earlier periods and its residual was measured over ``MIN_UPDATES`` events.
The offset read at a time is linear between the two nearest bucket centres (:meth:`Profile.at`)
unless the two differ by a step, so a smooth pattern leaves no step at bucket boundaries.

Plain lists of floats: the state is JSON-able as it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

_MEMORY = 8.0  # each bucket is an EW mean over ~8 visits
MIN_VISITS = 1  # earlier periods in which a bucket was seen before it speaks
MIN_UPDATES = 48
GAIN = 0.8  # a profile is used only if it leaves < 80 % of the residual without it
STEP = 3.0  # a change between buckets this many times their neighbours' is a step: kept sharp


class Profile:
    """EW mean offset per bucket of one period (seconds), and the residual it leaves.

    A bucket's weight is per *visit* (one pass of the period over it), not per event: with
    events every minute, an hourly bucket of a weekly profile sees 60 events per visit, and
    they count as one visit, so a profile cannot track the current level and pass for a
    pattern. A bucket speaks once it was visited in ``MIN_VISITS`` earlier periods.
    """

    __slots__ = (
        "buckets", "count", "cycle", "offset", "period", "rate", "resid", "smooth", "updates",
    )  # fmt: skip

    def __init__(self, period: float, buckets: int, *, smooth: bool = True) -> None:
        self.period = float(period)
        self.buckets = int(buckets)
        self.rate = self.buckets / self.period
        self.smooth = smooth  # False: `at` reads the bucket's own offset (stepwise)
        self.offset = [0.0] * self.buckets
        self.count = [0] * self.buckets  # visits: periods in which the bucket saw events
        self.cycle = [-1] * self.buckets  # index of the period of the bucket's last visit
        self.resid = 0.0  # EW mean |x - level - offset| over events where the bucket speaks
        self.updates = 0

    def learn(
        self, b: int, ts: float, off: float, spacing: float, rate: float, clip: float
    ) -> None:
        """Learn offset ``off`` (``x - level``) at ``ts`` into bucket ``b``.

        ``spacing`` is the typical time between events (seconds, 0 if unknown), ``rate`` paces
        the residual, ``clip`` bounds one event's pull on the offset (0: no bound yet).
        """
        count = self.count[b]
        cycle = int(ts // self.period)
        if cycle != self.cycle[b]:
            self.cycle[b] = cycle
            count += 1
            self.count[b] = count
            if count == 1:
                self.offset[b] = off
                return
        current = self.offset[b]
        res = off - current
        if count > MIN_VISITS:  # the offset holds earlier periods: measure the residual
            lim = clip if clip > 0.0 else abs(res)
            res = res if -lim <= res <= lim else (lim if res > 0.0 else -lim)
            self.resid += rate * (abs(res) - self.resid) if self.updates else abs(res)
            self.updates += 1
        # Events per visit: a bucket's duration over the typical spacing (at least 1).
        per_visit = spacing * self.rate
        per_visit = 1.0 / per_visit if 0.0 < per_visit < 1.0 else 1.0
        self.offset[b] = current + res / ((count if count < _MEMORY else _MEMORY) * per_visit)

    def at(self, ts: float) -> float:
        """Offset at ``ts``: linear between the centres of the two nearest buckets, so a smooth
        pattern leaves no step at a bucket boundary (for a noise-free daily sine, stepwise
        offsets made the jump view score every boundary: 0.54 a day after the profile began to
        speak). A change between the two that is over ``STEP`` times the larger of the changes
        next to it is a step in the pattern (a shift starting at 09:00), not a slope: it stays
        at the boundary. A bucket not seen in an earlier period lends its neighbour's offset.
        """
        if not self.smooth:
            return self.offset[int((ts % self.period) * self.rate) % self.buckets]
        pos = (ts % self.period) * self.rate - 0.5
        i = math.floor(pos)
        f = pos - i
        n, offset, count, cycle = self.buckets, self.offset, self.count, self.cycle
        b0, b1 = i % n, (i + 1) % n
        o0, o1 = offset[b0], offset[b1]
        now = int(ts // self.period)
        if count[b0] - (cycle[b0] == now) < MIN_VISITS:
            return o1
        if count[b1] - (cycle[b1] == now) < MIN_VISITS:
            return o0
        d = o1 - o0
        side = abs(o0 - offset[(i - 1) % n])
        after = abs(offset[(i + 2) % n] - o1)
        if abs(d) > STEP * (side if side > after else after):
            return o0 if f < 0.5 else o1
        return o0 + f * d

    def seen(self, b: int, ts: float) -> bool:
        """True if bucket ``b`` was visited in ``MIN_VISITS`` periods before the one of ``ts``."""
        count = self.count[b]
        return count - (self.cycle[b] == int(ts // self.period)) >= MIN_VISITS

    @property
    def ready(self) -> bool:
        """True once the residual this profile leaves has been measured."""
        return self.updates >= MIN_UPDATES

    def state(self) -> list[Any]:
        """JSON-able state."""
        return [list(self.offset), list(self.count), list(self.cycle), self.resid, self.updates]

    def restore(self, state: Sequence[Any]) -> None:
        """Load :meth:`state` output (the layout is checked by the caller's header)."""
        offset, count, cycle, resid, updates = state
        self.offset = [float(v) for v in offset]
        self.count = [int(v) for v in count]
        self.cycle = [int(v) for v in cycle]
        self.resid = float(resid)
        self.updates = int(updates)
