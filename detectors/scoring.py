"""Anomaly score of one series against its own baseline: robust views on a deseasonalised value.

What a value is compared with, learned online with exponential forgetting in *event-time* units
(decay follows ``dt / typical spacing``, so irregular gaps forget more and the time unit of
``ts`` does not matter):

* **seasonal context** — a time-of-day and a time-of-week profile (:mod:`detectors._season`);
  the one that explains the series best is subtracted first (interpolated between bucket
  centres, except across a step of the pattern), so a daily or weekly pattern is
  expected and every view below sees ``y = x - offset(ts)``: a pattern that breaks shows as a
  level excursion, and the pattern's own daily transitions are not jumps;
* **level** — ``|y - m|`` against a Huber-clipped running location ``m`` and scale;
* **jump** — the first difference of ``y`` against its own running scale;
* **short mean** — a fast running mean of ``y`` against ``m``, scaled by its own spread (small
  sustained shifts and drifts that single points hide);
* **drift** — once a sustained shift has been accepted as the new level, the short mean against
  the level from before it, in the level's scale, one-sided, for as long as shifts the same
  way keep coming (``2 × shift_run`` events): a drift is measured from where it started, not
  from each level it passes through (off with ``refractory=0``).

Scales never collapse: each has a floor of 0.3 × the series' typical *non-zero* change (a
quantised or mostly repeated series keeps the size of its steps as its unit), and updates are
capped relative to the floored scale, so a scale can always grow back.

Per-series calibration: each view's robust z is divided by the ratio of its running 99th
percentile to the normal's (2.576) when that ratio is above 1, so a heavy-tailed or
autocorrelated series raises its own bar by a bounded factor (a scale, not a fitted power law:
a 7-SD excursion on a series whose 99th percentile is at 3.5 SD still counts as 5 SD; at most
3x). Only the onset of a run above the percentile counts, so a drift cannot raise its own bar.
A run of identical values (a stuck metric) is scored by its probability under the series' own
repeat rates.

Score. The strongest evidence ``d = -log10 p`` becomes ``d / (d + half_point)``: monotone, in
[0, 1), never rounded to 1.0, 0.5 at ``p = 10^-half_point``. A refractory memory reports an
incident once — at its onset, or again if it escalates by half of what was reported (at least 3
decades) — instead of on every event. Evidence beyond ``3 × half_point`` decades is banked as a
logarithm (one incident banks a bounded memory; with nothing banked the score is the evidence
itself), and the memory fades on every event: with half-life ``refractory`` events once the
series is calm again (p > 0.05) or its evidence has fallen below 30 % of the memory (that
incident is over, on a series that is never calm: a trending walk, a spiky count), ten times
slower before, so a later anomaly on the same series is reported in full. A hold-off then
keeps one report per onset: for ``refractory`` events after a report, only evidence a decade
stronger than it is reported. The memory banks only evidence
past ``half_point``, so without the hold-off an excursion that hovers below it — or an
aftershock the fading memory lets through — is re-reported on every event that beats the last,
each a false positive per row in NAB's scoring (figures in ``docs/detection.md``).
``refractory=0`` turns both off for ``for:``-style rules that need a persistent score.

Anomalies are not learned into the baseline (river's ``protect_anomaly_detector`` idea,
softened): every update is clipped to ``huber_k`` scales; a sustained one-sided excursion
(``shift_run`` events) is accepted as the new level, and a stuck run longer than
``3 × shift_run`` as the new state, so a change is flagged at its onset and not for ever after.

river's ``stats`` (EWMean, EWVar, Quantile) are not used in the hot path: their decay is per
event (``fading_factor``), not per event-time spacing, so a long silence would forget nothing,
and their state is not plain JSON; the unrolled scalar updates here cost ~4.3 µs/event for
everything with both profiles active (``python -m tests.bench.detectors.cost``, beside river's
``EWVar`` at 0.06 µs per single statistic).
Evaluation on series we did not write: ``python -m tests.bench.detectors.real_eval``.
"""

from __future__ import annotations

import math
from typing import Any

from detectors._common import check_positive
from detectors._scoring_learn import (
    _ANCHOR_RUNS,
    _CALM,
    _FLAT_RUNS,
    _FLOOR,
    _HOLD_MARGIN,
    _KNEE,
    _LN2,
    _LOG10_2,
    _OVER,
    _S,
    _SHOWN,
    _SLOW,
    _Z99,
    ScorerLearning,
)  # fmt: skip
from detectors._season import GAIN, MIN_UPDATES, MIN_VISITS, Profile
from detectors._tail import evidence_to_score, neglog10_normal_tail


class AnomalyScorer(ScorerLearning):
    """Robust multi-view anomaly scorer on a deseasonalised value (the default scorer).

    Parameters
    ----------
    half_life
        Memory of the baseline, in typical event spacings.
    short_half_life
        Memory of the short-window mean, in typical event spacings.
    huber_k
        Updates are clipped to this many scales (protects the baseline from anomalies).
    shift_run
        Consecutive one-sided excursions beyond ``huber_k`` after which the level is reset.
    warmup
        Events before the first non-zero score.
    half_point
        Surprise (``-log10 p``) that maps to a score of 0.5.
    refractory
        Half-life (events) of the memory of reported evidence; 0 disables it, so a persisting
        anomaly keeps its high score on every event (use that for ``for:``-style rules).
    season_period
        Period of the time-of-day profile in seconds (a day by default); 0 disables both
        profiles.
    season_buckets
        Buckets per period of the time-of-day profile.
    week_buckets
        Buckets of the time-of-week profile (7 × ``season_period``); 0 disables it.

    Examples
    --------
    >>> import random
    >>> from detectors import AnomalyScorer
    >>> rng = random.Random(7)
    >>> scorer = AnomalyScorer()
    >>> scores = []
    >>> for i in range(600):
    ...     x = rng.gauss(50.0, 2.0) + (30.0 if i == 500 else 0.0)
    ...     scores.append(scorer.score_one(x, ts=60.0 * i))
    ...     scorer.learn_one(x, ts=60.0 * i)
    >>> scores[:3]
    [0.0, 0.0, 0.0]
    >>> max(range(600), key=scores.__getitem__)
    500
    >>> scores[500] > 0.5 > max(scores[:500])
    True
    """

    def __init__(
        self,
        *,
        half_life: float = 400.0,
        short_half_life: float = 5.0,
        huber_k: float = 3.0,
        shift_run: int = 20,
        warmup: int = 60,
        half_point: float = 6.0,
        refractory: float = 50.0,
        season_period: float = 86400.0,
        season_buckets: int = 48,
        week_buckets: int = 168,
    ) -> None:
        for name, value in (
            ("half_life", half_life),
            ("short_half_life", short_half_life),
            ("huber_k", huber_k),
            ("half_point", half_point),
        ):
            check_positive(name, value)
        if season_period < 0 or season_buckets < 1 or week_buckets < 0:
            raise ValueError(
                f"need season_period >= 0, season_buckets >= 1, week_buckets >= 0; "
                f"got {season_period}, {season_buckets}, {week_buckets}"
            )
        if shift_run < 1 or warmup < 2 or refractory < 0:
            raise ValueError(
                f"need shift_run >= 1, warmup >= 2, refractory >= 0; "
                f"got {shift_run}, {warmup}, {refractory}"
            )
        self.params: dict[str, float] = {
            "half_life": float(half_life),
            "short_half_life": float(short_half_life),
            "huber_k": float(huber_k),
            "shift_run": int(shift_run),
            "warmup": int(warmup),
            "half_point": float(half_point),
            "refractory": float(refractory),
            "season_period": float(season_period),
            "season_buckets": int(season_buckets),
            "week_buckets": int(week_buckets),
        }
        # refractory=0 (a rule's persistent score) keeps stepwise offsets, as before
        smooth = refractory > 0
        self._day = Profile(season_period, season_buckets, smooth=smooth) if season_period else None
        self._week = (
            Profile(7.0 * season_period, week_buckets, smooth=smooth)
            if season_period and week_buckets
            else None
        )
        self._c_long = _LN2 / half_life
        self._c_short = _LN2 / short_half_life
        self._c_base = -_LN2 / season_period if season_period else 0.0  # per second
        self._keep = 2.0 ** (-1.0 / refractory) if refractory > 0 else 0.0
        self._keep_slow = 2.0 ** (-1.0 / (_SLOW * refractory)) if refractory > 0 else 0.0
        self._hold = float(refractory) if refractory > 0 else -1.0  # events
        self._k = float(huber_k)
        self._shift_run = int(shift_run)
        self._warmup = int(warmup)
        self._half_point = float(half_point)
        self._knee = _KNEE * float(half_point)
        self._flat_limit = _FLAT_RUNS * int(shift_run)
        self._anchor_life = _ANCHOR_RUNS * int(shift_run) if refractory > 0 else 0
        self.n = 0
        self.last_ts = 0.0
        self.last_x = 0.0
        self.typ_dt = 0.0  # typical spacing of events, seconds (0: not known yet)
        self.w_long = self.w_short = 0.0  # normalising weights of the time-aware EW means
        self.m = self.a = self.ad = 0.0  # level, its mean |deviation|, mean |difference|
        self.ms = self.as3 = 0.0  # short mean, mean |short mean - level|
        self.q = 0.0  # mean |non-zero change| of the raw value: the series' step size
        self.base = self.w_base = 0.0  # slow level (EW mean over ~a period) and its weight
        self.t0 = 0.0  # time of the first event
        self.plain = 0.0  # mean |x - base| with no seasonal offset
        self.run = 0  # signed run of one-sided excursions beyond huber_k
        self.zeros = 0  # current run of repeated values
        self.c0 = self.c00 = self.cprev0 = self.wz = 0.0  # decayed repeat counts
        self.alarm = 0.0  # decaying memory of the evidence already reported (decades)
        self.held, self.held_at = 0.0, -(2**62)  # last report (decades) and when (event n)
        # Running 99th percentile of each view's robust z, and which views were above it.
        self.cal = [_Z99, _Z99, _Z99, 0.0]
        # Drift anchor: the level before a series of same-way sustained shifts (0: none).
        self.anchor, self.anchor_dir, self.anchor_at = 0.0, 0, 0
        self._cache: tuple[float, float, tuple[Any, ...]] | None = None
        self._step = self._gap = math.nan  # last step and gap, and their decays (derived)
        self._decay = (1.0, 1.0)
        self._keep_base = 1.0

    @property
    def ready(self) -> bool:
        """True once ``warmup`` events were learned (scores are 0.0 before)."""
        return self.n >= self._warmup

    def score_one(self, value: float, ts: float) -> float:
        """Score in [0, 1) of ``value`` at event time ``ts`` (seconds); changes no statistic.

        A non-finite value or timestamp scores 0.0 (bad input is not evidence of an anomaly).
        """
        if not (math.isfinite(value) and math.isfinite(ts)):
            return 0.0
        work = self._evaluate(value, ts)
        self._cache = (value, ts, work)
        return float(work[0])

    def learn_one(self, value: float, ts: float) -> None:
        """Learn ``value`` at event time ``ts`` (clipped, see the module notes); non-finite
        input is ignored."""
        cache = self._cache
        self._cache = None
        if not (math.isfinite(value) and math.isfinite(ts)):
            return
        if cache is not None and cache[0] == value and cache[1] == ts:
            work = cache[2]
        else:
            work = self._evaluate(value, ts)
        self._learn(value, ts, work)

    def _evaluate(self, x: float, ts: float) -> tuple[Any, ...]:
        """Score ``x`` and return what learning it needs, reading state only (the hot path:
        scalar ``math`` only, views unrolled)."""
        n = self.n
        if n == 0:
            return (0.0,)
        # Event-time step in typical spacings (1.0 per event when timestamps carry nothing).
        dt = ts - self.last_ts
        typ = self.typ_dt
        if dt > 0.0:
            typ = dt if typ <= 0.0 else typ + 0.02 * ((dt if dt < 5.0 * typ else 5.0 * typ) - typ)
            step = dt / typ if dt < 50.0 * typ else 50.0
        else:
            step = 0.0 if typ > 0.0 else 1.0
        if step != self._step:  # regular streams repeat the same step: reuse its decays
            self._step = step
            self._decay = (math.exp(-self._c_long * step), math.exp(-self._c_short * step))
        keep_long, keep_short = self._decay
        w_long = self.w_long * keep_long + 1.0
        w_short = self.w_short * keep_short + 1.0
        m = self.m
        # Seasonal context: subtract the offset of the profile that explains the series best,
        # where this bucket was seen in an earlier period (Profile.seen, inlined: hot path).
        # The jump compares with the previous value under the same profile, so switching
        # profiles is not a jump.
        day, week = self._day, self._week
        b_day = b_week = 0
        s = s_prev = 0.0
        if day is not None:
            last_ts = self.last_ts
            b_day = int((ts % day.period) * day.rate) % day.buckets
            best = GAIN * self.plain
            if (
                day.updates >= MIN_UPDATES
                and day.resid < best
                and day.count[b_day] - (day.cycle[b_day] == int(ts // day.period)) >= MIN_VISITS
            ):
                s, s_prev, best = day.at(ts), day.at(last_ts), GAIN * day.resid
            if week is not None:
                b_week = int((ts % week.period) * week.rate) % week.buckets
                if (
                    week.updates >= MIN_UPDATES
                    and week.resid < best
                    and week.count[b_week] - (week.cycle[b_week] == int(ts // week.period))
                    >= MIN_VISITS
                ):
                    s, s_prev = week.at(ts), week.at(last_ts)
        y = x - s
        dev = y - m
        diff = y - (self.last_x - s_prev)
        ms = self.ms + (y - self.ms) / w_short
        floor = _FLOOR * self.q + 1e-9 * abs(m) + 1e-12
        a, ad, as3 = self.a, self.ad, self.as3
        r1 = abs(dev) / (_S * (a if a > floor else floor))
        r2 = abs(diff) / (_S * (ad if ad > floor else floor))
        floor3 = floor / 3.0  # the short mean's spread is ~1/3 of the level's
        r3 = abs(ms - m) / (_S * (as3 if as3 > floor3 else floor3))
        # Per-series calibration: a series whose 99th percentile is beyond the normal's
        # raises its bar by that ratio (never lowers it).
        c1, c2, c3, _ = self.cal
        z = r1 * _Z99 / c1 if c1 > _Z99 else r1
        z2 = r2 * _Z99 / c2 if c2 > _Z99 else r2
        z3 = r3 * _Z99 / c3 if c3 > _Z99 else r3
        z = z if z > z2 else z2
        z = z if z > z3 else z3
        if self.anchor_dir:  # a drift: the short mean against the level it left, one-sided
            r4 = (ms - self.anchor) * self.anchor_dir / (_S * (a if a > floor else floor))
            r4 = r4 * _Z99 / c1 if c1 > _Z99 else r4
            z = z if z > r4 else r4
        decades = neglog10_normal_tail(z) - _LOG10_2 if z > 0.0 else 0.0  # two-sided
        # Stuck metric: a run of identical values, against the series' own repeat rates.
        is_zero = x == self.last_x
        zeros = self.zeros + 1 if is_zero else 0
        if zeros and zeros <= self._flat_limit:  # beyond the limit the stuck state is accepted
            p0 = (self.c0 + 0.5) / (self.wz + 1.0)
            p00 = (self.c00 + p0) / (self.cprev0 + 1.0)  # shrunk towards independence
            flat = -math.log10(p0) - (zeros - 1) * math.log10(p00)
            decades = decades if decades > flat else flat
        # Refractory memory: report only evidence beyond what was reported recently. It works
        # in units that grow like log(decades) beyond a knee, so one huge incident banks a
        # bounded memory; with nothing banked the score is the evidence itself.
        knee, half = self._knee, self._half_point
        banked = decades if decades <= knee else knee + half * math.log(decades / knee)
        recent = self.alarm
        if recent:  # fast once calm, or once far below the memory (the incident is over)
            fast = decades < _CALM or banked < _OVER * recent
            recent *= self._keep if fast else self._keep_slow
        score = 0.0
        if n >= self._warmup and banked > recent:
            excess = banked - recent  # back from banking units to decades:
            excess = excess if excess <= knee else knee * math.exp((excess - knee) / half)
            shown = excess if excess <= _SHOWN else _SHOWN * (1.0 + math.log(excess / _SHOWN))
            # Hold-off: within `refractory` events of a report, only one a decade stronger.
            if n - self.held_at > self._hold or shown > self.held + _HOLD_MARGIN:
                score = evidence_to_score(shown, half)
        return (score, typ, w_long, w_short, s, dev, diff, ms, r1, r2, r3,
                banked, recent, is_zero, zeros, b_day, b_week)  # fmt: skip


def default_scorer(**params: Any) -> AnomalyScorer:
    """The recommended anomaly scorer for one series (``AnomalyScorer`` with its defaults).

    Parameters
    ----------
    **params
        Overrides of :class:`AnomalyScorer` parameters.

    Examples
    --------
    >>> from detectors import default_scorer
    >>> scorer = default_scorer()
    >>> scorer.learn_one(1.0, ts=0.0)
    >>> scorer.score_one(1.0, ts=60.0)
    0.0
    """
    return AnomalyScorer(**params)
