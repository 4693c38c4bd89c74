"""How the default scorer (:mod:`detectors.scoring`) learns a value, and its persisted state.

A mixin of :class:`detectors.scoring.AnomalyScorer`: ``_learn`` is a method of the same object,
so splitting it out of ``scoring.py`` adds no call to the hot path. The constants are shared.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Self

from detectors._common import check_state, header
from detectors._season import MIN_UPDATES, Profile

_LN2 = math.log(2.0)
_LOG10_2 = math.log10(2.0)
_S = math.sqrt(math.pi / 2.0)  # σ / E|X - μ| for a normal
_Z99 = 2.5758293035489004  # two-sided 99 % point of the normal
_CAL_STEP = 0.02  # relative step of the running 99th percentiles (Robbins-Monro)
_CAL_DOWN = 1.0 - 0.01 * _CAL_STEP
_CAL_MAX = 3.0 * _Z99  # calibration raises a series' bar by at most 3x
_FLOOR = 0.3  # scales never fall below this many typical non-zero changes
_SCALE_CAP = 3.0  # scales learn deviations capped at this many scales
_EXCURSION = 0.25  # and those beyond it 4x slower: a drift cannot inflate its yardstick
_FLAT_RUNS = 3  # a stuck run longer than this many shift_runs is accepted as the new state
_KNEE = 3.0  # the refractory memory banks evidence beyond this many half_points as a log
_SHOWN = 1000.0  # decades beyond which the score grows like a log (never rounds to 1.0)
_SLOW = 10.0  # the memory fades this much slower until the series is calm again
_MARGIN = 3.0  # decades
_ESCALATE = 0.5  # of the reported evidence, once that is past 2 margins
_HOLD_MARGIN = 1.0  # decades a report must beat the last one by, within the hold-off
_CALM = 1.3  # evidence (decades) below which a value is ordinary: p > 0.05
_OVER = 0.3  # or the evidence is below this share of the memory: that incident is over
_ANCHOR_RUNS = 2  # a drift anchor lapses after this many shift_runs without a same-way shift
_FIELDS = (
    "n", "t0", "last_ts", "last_x", "typ_dt", "w_long", "w_short", "m", "a", "ad", "ms",
    "as3", "q", "base", "w_base", "plain", "run", "zeros", "c0", "c00", "cprev0", "wz", "alarm",
    "held", "held_at", "cal", "anchor", "anchor_dir", "anchor_at",
)  # fmt: skip


class ScorerLearning:
    """Learning half of the default scorer: the running statistics it updates, and its state."""

    params: dict[str, float]
    _day: Profile | None
    _week: Profile | None
    _k: float
    _shift_run: int
    _warmup: int
    _half_point: float
    _c_base: float
    _hold: float
    _anchor_life: int
    n: int
    last_ts: float
    last_x: float
    typ_dt: float
    w_long: float
    w_short: float
    m: float
    a: float
    ad: float
    ms: float
    as3: float
    q: float
    base: float
    w_base: float
    t0: float
    plain: float
    run: int
    zeros: int
    c0: float
    c00: float
    cprev0: float
    wz: float
    alarm: float
    held: float
    held_at: int
    cal: list[float]
    anchor: float
    anchor_dir: int
    anchor_at: int
    _gap: float
    _keep_base: float

    def _learn(self, x: float, ts: float, work: tuple[Any, ...]) -> None:
        n = self.n
        self.n = n + 1
        if n == 0:
            self.last_ts, self.last_x, self.m, self.ms, self.base, self.t0 = ts, x, x, x, x, ts
            self.w_long = self.w_short = self.w_base = 1.0
            return
        prev_ts = self.last_ts
        (_, typ, w_long, w_short, _, dev, diff, ms, r1, r2, r3, banked, recent, is_zero,
         zeros, b_day, b_week) = work  # fmt: skip
        k = self._k
        al = 1.0 / w_long
        self.typ_dt, self.w_long, self.w_short, self.ms = typ, w_long, w_short, ms
        if ts > prev_ts:
            self.last_ts = ts
        m = self.m
        # Step size of the raw series: the unit below which no scale may fall.
        change = abs(x - self.last_x)
        q = self.q
        if change > 0.0:
            capped = change if change < 5.0 * q else 5.0 * q
            self.q = change if q == 0.0 else q + al * (capped - q)
        self.last_x = x
        floor = _FLOOR * q + 1e-9 * abs(m) + 1e-12
        a, ad, as3 = self.a, self.ad, self.as3
        fa = a if a > floor else floor
        # Huber-clipped level: an outlier moves it by at most k scales x rate.
        lim = k * _S * fa
        early = n < 3  # the first values set the scale; nothing to clip against yet
        run = self.run
        if early or -lim <= dev <= lim:
            new_m, run = m + al * dev, 0
        elif dev > 0.0:
            new_m, run = m + al * lim, run + 1 if run > 0 else 1
        else:
            new_m, run = m - al * lim, run - 1 if run < 0 else -1
        if run >= self._shift_run or -run >= self._shift_run:
            # A sustained shift: accept the recent level, but keep the level from before the
            # first of a series of same-way shifts as a drift anchor (read in `_evaluate`).
            if self._anchor_life:  # 0 with refractory=0: a rule's persistent score is kept
                way = 1 if run > 0 else -1
                if self.anchor_dir != way:
                    self.anchor, self.anchor_dir = m, way
                self.anchor_at = n
            new_m, run = ms, 0
        elif self.anchor_dir and n - self.anchor_at > self._anchor_life:
            self.anchor_dir = 0  # no further shift that way: the change is over
        self.m, self.run = new_m, run
        adev, adiff, agap = abs(dev), abs(diff), abs(ms - m)
        if early:
            self.a = a + al * (adev - a)
            self.ad = ad + al * (adiff - ad)
            self.as3 = as3 + al * (agap - as3)
        else:
            # Deviations capped at _SCALE_CAP floored scales (so a collapsed scale can grow
            # back) and learned slowly beyond it or during an excursion, so a drift or a
            # shift cannot inflate the scale it is measured by.
            ra = al if run == 0 else 0.25 * al
            kk = _SCALE_CAP * _S
            cap = kk * fa
            self.a = a + (ra * (adev - a) if adev < cap else _EXCURSION * ra * (cap - a))
            cap = kk * (ad if ad > floor else floor)
            self.ad = ad + al * ((adiff if adiff < cap else cap) - ad)
            cap = kk * (as3 if as3 > floor / 3.0 else floor / 3.0)
            self.as3 = as3 + (ra * (agap - as3) if agap < cap else _EXCURSION * ra * (cap - as3))
        # Seasonal profiles learn the offset from a slow level (EW mean over about a period:
        # the fast level would follow the pattern itself), clipped like the level.
        base = self.base
        off = x - base
        if self._day is not None:
            gap = ts - prev_ts
            if gap != self._gap:
                self._gap, self._keep_base = gap, math.exp(self._c_base * gap) if gap > 0.0 else 1.0
            self.w_base = self.w_base * self._keep_base + 1.0
            self.base = base + off / self.w_base
        plain, aoff = self.plain, abs(off)
        cap = k * _S * (plain if plain > floor else floor)
        self.plain = plain + al * ((aoff if aoff < cap else cap) - plain)
        day = self._day
        if day is not None and ts - self.t0 >= day.period:  # the slow level has settled
            kk = k * _S
            resid = day.resid if day.resid > floor else floor
            day.learn(b_day, ts, off, typ, al, kk * resid if day.updates >= MIN_UPDATES else 0.0)
            week = self._week
            if week is not None:
                resid = week.resid if week.resid > floor else floor
                clip = kk * resid if week.updates >= MIN_UPDATES else 0.0
                week.learn(b_week, ts, off, typ, al, clip)
        # Repeat counts: P(repeat) and P(repeat | previous was a repeat), decayed like the level.
        keep = 1.0 - al
        if self.zeros:
            self.cprev0 = self.cprev0 * keep + 1.0
            self.c00 = self.c00 * keep + 1.0 if is_zero else self.c00 * keep
        else:
            self.cprev0 *= keep
            self.c00 *= keep
        self.c0 = self.c0 * keep + 1.0 if is_zero else self.c0 * keep
        self.wz = self.wz * keep + 1.0
        self.zeros = zeros
        if n < self._warmup:
            return
        if work[0] > 0.0:
            self.held, self.held_at = self._half_point * work[0] / (1.0 - work[0]), n  # decades
        if banked >= self._half_point and banked > recent:
            # an escalation must beat the report by a margin (half of it, at least _MARGIN)
            self.alarm = banked + (_MARGIN if banked < 2.0 * _MARGIN else _ESCALATE * banked)
        else:
            self.alarm = recent
        # Running 99th percentiles of the views' robust z (Robbins-Monro, relative steps).
        # Only the first event of a run above the percentile counts as an exceedance, so a
        # sustained excursion (a drift, a shift) cannot raise the bar it is measured by.
        cal = self.cal
        c1, c2, c3, was = cal
        above = (r1 > c1) | (r2 > c2) << 1 | (r3 > c3) << 2
        if not (above or was):  # the usual case: every percentile steps down a little
            cal[0], cal[1], cal[2] = c1 * _CAL_DOWN, c2 * _CAL_DOWN, c3 * _CAL_DOWN
            return
        fresh = above & ~int(was)
        c1 += _CAL_STEP * c1 * (0.99 if fresh & 1 else 0.0 if above & 1 else -0.01)
        c2 += _CAL_STEP * c2 * (0.99 if fresh & 2 else 0.0 if above & 2 else -0.01)
        c3 += _CAL_STEP * c3 * (0.99 if fresh & 4 else 0.0 if above & 4 else -0.01)
        self.cal = [c if c < _CAL_MAX else _CAL_MAX for c in (c1, c2, c3)] + [float(above)]

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state (parameters and running statistics)."""
        state = {f: getattr(self, f) for f in _FIELDS}
        state["cal"] = list(self.cal)
        state["profiles"] = [p.state() for p in (self._day, self._week) if p is not None]
        return {**header(self, version=4), "params": dict(self.params), **state}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild from :meth:`state_dict` output."""
        check_state(cls, state, version=4)
        obj = cls(**state["params"])
        for f in _FIELDS:
            value = state[f]
            setattr(obj, f, list(value) if isinstance(value, list) else value)
        mine = [p for p in (obj._day, obj._week) if p is not None]
        for prof, saved in zip(mine, state["profiles"], strict=True):
            prof.restore(saved)
        return obj
