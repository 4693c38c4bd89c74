"""Anomaly score of one series against its own baseline: robust views + anomaly likelihood.

Four robust views of each value, learned online with exponential forgetting in *event-time*
units (decay follows ``dt / typical spacing``: irregular gaps forget more, and the time unit of
``ts`` does not matter):

1. level — ``|x - m| / s`` against a Huber-clipped running location ``m`` and scale ``s``;
2. jump — the first difference ``|x - x_prev|`` against its own running scale;
3. short mean — a fast running mean against ``m``, scaled by its own running spread (finds
   small sustained shifts and drifts that single points hide);
4. context — ``x`` against a profile of the same time of day in earlier days (per-bucket EW
   means over ``season_period``), so a daily pattern that breaks is seen even when each value is
   ordinary for the series as a whole (the "contextual" idea of NAB's CAD-OSE and of HTM's
   sequence memory, in its simplest form). Silent until its own statistics have warmed up.

Likelihood step. Each view's score is standardised against its long-run location and spread in
the same series, then turned into a tail probability — the idea of the "anomaly likelihood" of
Ahmad, Lavin, Purdy & Agha 2017, "Unsupervised real-time anomaly detection for streaming data"
(Neurocomputing 262), which lifts HTM on NAB: a noisy, seasonal or heavy-tailed series raises its
own bar, so one threshold serves every series. The tail beyond 2 units is a generalised Pareto
fitted online to the series' own exceedances (peaks over threshold, Siffer et al. 2017), so heavy
tails need larger excursions for the same surprise. A run of identical values (a stuck metric)
is scored by its probability under the series' own repeat rates.

Score. The strongest evidence ``d = -log10 p`` becomes ``d / (d + half_point)``: monotone, in
[0, 1), never rounded to 1.0 (``p = 1e-20`` and ``1e-40`` stay apart), 0.5 at
``p = 10^-half_point``. A refractory memory reports an incident once — at its onset, or again if
it escalates — instead of on every event (``refractory=0`` turns this off for ``for:``-style
rules that need a persistent score).

Anomalies are not learned into the baseline (river's ``protect_anomaly_detector`` idea, softened):
every update is clipped to ``huber_k`` scales, so an outlier moves the baseline by a bounded step;
a sustained one-sided excursion (``shift_run`` events) is accepted as the new level, and a stuck
run longer than ``3 × shift_run`` as the new state, so a change is flagged at its onset and not
for ever after.

Measured on the labelled synthetic corpus of ``tests/bench/detectors/nab_eval.py`` (NAB standard
profile): see the module's benchmark for the figures; ~3–4 µs/event.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Self

from detectors._common import check_positive, check_state, header
from detectors._tail import evidence_to_score, neglog10_normal_tail

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_SIGMA_PER_MEAN_ABS = math.sqrt(math.pi / 2.0)  # σ / E|X - μ| for a normal
_U = 2.0  # peaks-over-threshold level, in standardised view-score units
_U_DECADES = neglog10_normal_tail(_U)
_VIEWS = 4  # level, jump, short mean, time-of-day profile
_SEASON_MEMORY = 10.0  # each profile bucket is an EW mean over ~10 periods
_EXCESS_CLIP = 5.0  # one exceedance moves the tail fit by at most 5 mean excesses
_EXCURSION_RATE = 0.25  # scales learn 4x slower during a one-sided excursion
_FLAT_RUNS = 3  # a stuck run longer than this many shift_runs is accepted as the new state
_FIELDS = (
    "n", "last_ts", "last_x", "typ_dt", "w_long", "w_short", "m", "a", "ad", "ms",
    "as3", "run", "zeros", "c0", "c00", "cprev0", "wz", "alarm", "prof", "pcount", "a4", "n4",
    "mu", "dev", "pu", "ex1", "ex2",
)  # fmt: skip


def _tail_decades(e: float, pu: float, ex1: float, ex2: float) -> float:
    """Surprise (decades) of a standardised view score ``e``.

    Below ``_U`` a normal tail; above it a generalised Pareto tail fitted to this series' own
    exceedances by the method of moments (Hosking & Wallis 1987): shape ``ξ = ½(1 - m²/v)``
    clipped to [0, ½], scale ``σ = ½ m (1 + m²/v)``. ``ξ = 0`` is the exponential tail of
    light-tailed series; ``ξ > 0`` a power law, so heavy-tailed series need far larger
    excursions for the same surprise (Siffer et al. 2017, "Anomaly detection in streams with
    extreme value theory", KDD).
    """
    if e <= _U:
        return neglog10_normal_tail(e) if e > 0.0 else 0.0
    var = ex2 - ex1 * ex1
    ratio = ex1 * ex1 / var if var > 0.0 else 1.0
    xi = 0.5 * (1.0 - ratio)
    xi = 0.0 if xi < 0.0 else 0.5 if xi > 0.5 else xi
    sigma = 0.5 * ex1 * (1.0 + ratio) if var > 0.0 else ex1
    base = -math.log10(pu) if pu > 1e-12 else 12.0
    base = max(base, _U_DECADES)
    excess = e - _U
    if xi < 1e-6:
        return base + excess / (sigma * _LN10)
    return base + math.log10(1.0 + xi * excess / sigma) / xi


class AnomalyScorer:
    """Robust multi-view anomaly scorer with an anomaly-likelihood step (the default scorer).

    Parameters
    ----------
    half_life
        Memory of the baseline, in typical event spacings.
    short_half_life
        Memory of the short-window mean, in typical event spacings.
    score_half_life
        Memory of the distribution of view scores (the likelihood step), in events.
    huber_k
        Updates are clipped to this many scales (protects the baseline from anomalies).
    shift_run
        Consecutive one-sided excursions beyond ``huber_k`` after which the level is reset.
    warmup
        Events before the first non-zero score.
    half_point
        Surprise (``-log10 p``) that maps to a score of 0.5.
    season_period
        Period of the context view in seconds (a day by default); 0 disables it.
    season_buckets
        Buckets per period of the context view's profile.
    refractory
        Half-life (events) of the memory of reported evidence; 0 disables it, so a persisting
        anomaly keeps its high score on every event (use that for ``for:``-style rules).

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
        half_life: float = 200.0,
        short_half_life: float = 3.0,
        score_half_life: float = 1000.0,
        huber_k: float = 3.0,
        shift_run: int = 12,
        warmup: int = 60,
        half_point: float = 6.0,
        refractory: float = 30.0,
        season_period: float = 86400.0,
        season_buckets: int = 48,
    ) -> None:
        for name, value in (
            ("half_life", half_life),
            ("short_half_life", short_half_life),
            ("score_half_life", score_half_life),
            ("huber_k", huber_k),
            ("half_point", half_point),
        ):
            check_positive(name, value)
        if season_period < 0 or season_buckets < 1:
            raise ValueError(
                f"need season_period >= 0 and season_buckets >= 1; "
                f"got {season_period}, {season_buckets}"
            )
        if shift_run < 1 or warmup < 2 or refractory < 0:
            raise ValueError(
                f"need shift_run >= 1, warmup >= 2, refractory >= 0; "
                f"got {shift_run}, {warmup}, {refractory}"
            )
        self.params: dict[str, float] = {
            "half_life": float(half_life),
            "short_half_life": float(short_half_life),
            "score_half_life": float(score_half_life),
            "huber_k": float(huber_k),
            "shift_run": int(shift_run),
            "warmup": int(warmup),
            "half_point": float(half_point),
            "refractory": float(refractory),
            "season_period": float(season_period),
            "season_buckets": int(season_buckets),
        }
        self._period = float(season_period)
        self._buckets = int(season_buckets)
        self._bucket_rate = self._buckets / self._period if self._period else 0.0
        self._c_long = _LN2 / half_life
        self._c_short = _LN2 / short_half_life
        self._score_events = float(score_half_life) / _LN2  # EW window, per event
        self._ref_keep = 2.0 ** (-1.0 / refractory) if refractory > 0 else 0.0
        self._k = float(huber_k)
        self._shift_run = int(shift_run)
        self._warmup = int(warmup)
        self._half_point = float(half_point)
        self._flat_limit = _FLAT_RUNS * int(shift_run)
        self.n = 0
        self.last_ts = 0.0
        self.last_x = 0.0
        self.typ_dt = 0.0  # typical spacing of events, seconds (0: not known yet)
        self.w_long = self.w_short = 0.0  # normalising weights of the time-aware EW means
        self.m = self.a = self.ad = 0.0  # level, its mean |deviation|, mean |difference|
        self.ms = self.as3 = 0.0  # short mean, mean |short mean - level|
        self.run = 0  # signed run of one-sided excursions beyond huber_k
        self.zeros = 0  # current run of repeated values
        self.c0 = self.c00 = self.cprev0 = self.wz = 0.0  # decayed repeat counts
        self.alarm = 0.0  # decaying memory of the evidence already reported
        self.prof = [0.0] * self._buckets  # time-of-day profile (EW mean per bucket)
        self.pcount = [0] * self._buckets
        self.a4 = 0.0  # mean |x - profile|
        self.n4 = 0  # updates of the context view's score statistics
        # Per view: long-run mean and mean |deviation| of |z|, rate above _U, and the first two
        # moments of the excess above _U (the likelihood step and its tail).
        self.mu = [0.0] * _VIEWS
        self.dev = [0.0] * _VIEWS
        self.pu = [0.05] * _VIEWS
        self.ex1 = [1.0] * _VIEWS
        self.ex2 = [2.0] * _VIEWS
        self._cache: tuple[float, float, tuple[Any, ...]] | None = None

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
        """Score ``x`` and return what learning it needs, reading state only.

        The hot path: scalar ``math`` only, views unrolled (this runs on every event).
        """
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
        w_long = self.w_long * math.exp(-self._c_long * step) + 1.0
        w_short = self.w_short * math.exp(-self._c_short * step) + 1.0
        m = self.m
        tiny = 1e-9 * abs(m) + 1e-12  # a constant series has zero scale
        dev = x - m
        diff = x - self.last_x
        ms = self.ms + (x - self.ms) / w_short
        r1 = abs(dev) / (_SIGMA_PER_MEAN_ABS * self.a + tiny)
        r2 = abs(diff) / (_SIGMA_PER_MEAN_ABS * self.ad + tiny)
        r3 = abs(ms - m) / (_SIGMA_PER_MEAN_ABS * self.as3 + tiny)
        # Context: the same time of day in earlier periods (daily patterns of operations).
        b = pc = 0
        res4 = r4 = 0.0
        if self._period:
            b = int((ts % self._period) * self._bucket_rate) % self._buckets
            pc = self.pcount[b]
            res4 = x - self.prof[b] if pc else 0.0
            r4 = abs(res4) / (_SIGMA_PER_MEAN_ABS * self.a4 + tiny) if pc >= 3 else 0.0
        mu, dv = self.mu, self.dev
        e1 = (r1 - mu[0]) / (_SIGMA_PER_MEAN_ABS * dv[0] + 1e-3)
        e2 = (r2 - mu[1]) / (_SIGMA_PER_MEAN_ABS * dv[1] + 1e-3)
        e3 = (r3 - mu[2]) / (_SIGMA_PER_MEAN_ABS * dv[2] + 1e-3)
        # The context view speaks once its own score statistics have warmed up.
        e4 = (r4 - mu[3]) / (_SIGMA_PER_MEAN_ABS * dv[3] + 1e-3) if self.n4 >= 30 else -1.0
        # Below _U every view uses the same normal tail, so only the largest needs it.
        if e1 <= _U and e2 <= _U and e3 <= _U and e4 <= _U:
            top = e1 if e1 > e2 else e2
            top = top if top > e3 else e3
            top = top if top > e4 else e4
            decades = neglog10_normal_tail(top) if top > 0.0 else 0.0
        else:
            pu, ex1, ex2 = self.pu, self.ex1, self.ex2
            decades = max(
                _tail_decades(e1, pu[0], ex1[0], ex2[0]),
                _tail_decades(e2, pu[1], ex1[1], ex2[1]),
                _tail_decades(e3, pu[2], ex1[2], ex2[2]),
                _tail_decades(e4, pu[3], ex1[3], ex2[3]),
            )
        # Stuck metric: a run of identical values, against the series' own repeat rates.
        is_zero = diff == 0.0
        zeros = self.zeros + 1 if is_zero else 0
        if zeros and zeros <= self._flat_limit:  # beyond the limit the stuck state is accepted
            p0 = (self.c0 + 0.5) / (self.wz + 1.0)
            p00 = (self.c00 + p0) / (self.cprev0 + 1.0)  # shrunk towards independence
            flat = -math.log10(p0) - (zeros - 1) * math.log10(p00)
            decades = decades if decades > flat else flat
        # Refractory memory: report only evidence beyond what was reported recently, so one
        # incident scores high once (at its onset, or when it escalates), not on every event;
        # the memory fades (per event) only once the evidence is below the reporting level.
        recent = self.alarm
        if recent and decades < self._half_point:
            recent *= self._ref_keep
        score = 0.0
        if n >= self._warmup and decades > recent:
            score = evidence_to_score(decades - recent, self._half_point)
        return (score, typ, step, w_long, w_short, dev, diff, ms, r1, r2, r3, e1, e2, e3,
                decades, recent, is_zero, zeros, b, res4, r4, e4)  # fmt: skip

    def _learn(self, x: float, ts: float, work: tuple[Any, ...]) -> None:
        n = self.n
        self.n = n + 1
        if n == 0:
            self.last_ts, self.last_x, self.m, self.ms = ts, x, x, x
            self.w_long = self.w_short = 1.0
            return
        (_, typ, _step, w_long, w_short, dev, diff, ms, r1, r2, r3, e1, e2, e3, decades, recent,
         is_zero, zeros, b, res4, r4, e4) = work  # fmt: skip
        k = self._k
        al = 1.0 / w_long
        self.typ_dt, self.w_long, self.w_short, self.ms = typ, w_long, w_short, ms
        self.last_ts = max(self.last_ts, ts)
        self.last_x = x
        m = self.m
        a, ad, as3 = self.a, self.ad, self.as3
        # Huber-clipped level and scales: an outlier moves them by at most k scales x rate.
        tiny = 1e-9 * abs(m) + 1e-12
        lim = k * (_SIGMA_PER_MEAN_ABS * a + tiny)
        early = n < 3  # the first values set the scale; nothing to clip against yet
        if early or -lim <= dev <= lim:
            self.m = m + al * dev
            self.run = 0
        elif dev > 0.0:
            self.m = m + al * lim
            self.run = self.run + 1 if self.run > 0 else 1
        else:
            self.m = m - al * lim
            self.run = self.run - 1 if self.run < 0 else -1
        if self.run >= self._shift_run or -self.run >= self._shift_run:
            self.m, self.run = ms, 0  # a sustained shift: accept the recent level
        adev, adiff, agap = abs(dev), abs(diff), abs(ms - m)
        if early:
            self.a = a + al * (adev - a)
            self.ad = ad + al * (adiff - ad)
            self.as3 = as3 + al * (agap - as3)
        else:
            # Scales learn deviations capped at huber_k SDs, and only slowly during an
            # excursion, so a drift or a shift cannot inflate the scale it is measured by.
            ra = al if self.run == 0 else al * _EXCURSION_RATE
            kk = k * _SIGMA_PER_MEAN_ABS
            cap = kk * a + tiny
            self.a = a + ra * ((adev if adev < cap else cap) - a)
            cap = kk * ad + tiny
            self.ad = ad + al * ((adiff if adiff < cap else cap) - ad)
            cap = kk * as3 + tiny
            self.as3 = as3 + ra * ((agap if agap < cap else cap) - as3)
        # Time-of-day profile: per-bucket EW mean, clipped like the level.
        if self._period:
            prof, pcount = self.prof, self.pcount
            pc = pcount[b]
            if pc == 0:
                prof[b] = x
            else:
                a4 = self.a4
                lim4 = k * (_SIGMA_PER_MEAN_ABS * a4 + tiny) if pc >= 3 and a4 > 0.0 else math.inf
                rc = res4 if -lim4 <= res4 <= lim4 else (lim4 if res4 > 0.0 else -lim4)
                prof[b] += rc / (pc + 1.0) if pc + 1.0 < _SEASON_MEMORY else rc / _SEASON_MEMORY
                self.a4 = a4 + al * (abs(rc) - a4)
            pcount[b] = pc + 1
        # Repeat counts: P(repeat) and P(repeat | previous was a repeat), decayed like the level.
        keep = 1.0 - al
        if is_zero:
            self.c0 = self.c0 * keep + 1.0
            self.c00 = self.c00 * keep + (1.0 if self.zeros else 0.0)
        else:
            self.c0 *= keep
            self.c00 *= keep
        self.cprev0 = self.cprev0 * keep + (1.0 if self.zeros else 0.0)
        self.wz = self.wz * keep + 1.0
        self.zeros = zeros
        if n >= self._warmup:
            self.alarm = (
                (decades if decades > recent else recent) if decades >= self._half_point else recent
            )
        # Likelihood-step statistics (per event) start once the scales mean something.
        if n < 10:
            return
        asc = 1.0 / (n - 9) if n - 9 < self._score_events else 1.0 / self._score_events
        warm = n > 30
        mu, dv, pu = self.mu, self.dev, self.pu
        k = self._k
        # The three always-on views, unrolled into one loop over locals (hot path).
        for i, rv, e in ((0, r1, e1), (1, r2, e2), (2, r3, e3)):
            mi, di = mu[i], dv[i]
            cap = mi + k * di if warm else 6.0
            rc = rv if rv < cap else cap
            mi += asc * (rc - mi)
            mu[i] = mi
            dv[i] = di + asc * (abs(rc - mi) - di)
            if warm:
                if e > _U:
                    self._learn_tail(i, e, asc)
                else:
                    pu[i] -= asc * pu[i]
        if self._period and self.pcount[b] > 3:
            self.n4 += 1
            n4 = self.n4
            rate4 = 1.0 / n4 if n4 < self._score_events else 1.0 / self._score_events
            self._learn_view(3, r4, e4, rate4, n4 > 20)

    def _learn_view(self, i: int, r: float, e: float, rate: float, warm: bool) -> None:
        """Update one view's score distribution: location, spread and exceedance tail."""
        mu, dv = self.mu, self.dev
        mi, di = mu[i], dv[i]
        cap = mi + self._k * di if warm else 6.0
        r = r if r < cap else cap
        mi += rate * (r - mi)
        mu[i] = mi
        dv[i] = di + rate * (abs(r - mi) - di)
        if warm:
            if e > _U:
                self._learn_tail(i, e, rate)
            else:
                self.pu[i] -= rate * self.pu[i]

    def _learn_tail(self, i: int, e: float, rate: float) -> None:
        """Peaks over threshold: rate above _U and the excess moments, the excess clipped so
        one incident cannot fatten the tail."""
        pu, ex1, ex2 = self.pu, self.ex1, self.ex2
        pu[i] += rate * (1.0 - pu[i])
        y = e - _U
        y = y if y < _EXCESS_CLIP * ex1[i] else _EXCESS_CLIP * ex1[i]
        rb = 4.0 * rate if rate < 0.005 else 0.02
        ex1[i] += rb * (y - ex1[i])
        ex2[i] += rb * (y * y - ex2[i])

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state (parameters and running statistics)."""
        state = {f: getattr(self, f) for f in _FIELDS}
        for f in ("mu", "dev", "pu", "ex1", "ex2", "prof", "pcount"):
            state[f] = list(state[f])
        return {**header(self), "params": dict(self.params), **state}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild from :meth:`state_dict` output."""
        check_state(cls, state)
        obj = cls(**state["params"])
        for f in _FIELDS:
            value = state[f]
            setattr(obj, f, list(value) if isinstance(value, list) else value)
        return obj


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
