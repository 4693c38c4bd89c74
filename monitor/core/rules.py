"""Rule evaluation: from a scope's windows to a condition, then the alert state machine.

:func:`evaluate` computes one :class:`Observation` (value, reference, threshold, samples and
whether the condition holds; ``active=None`` means no verdict: no data or too few samples).
:class:`RuleInstance` owns the alert state, the learned baseline of ``learned`` thresholds and
the latch of sequential tests, and applies the rule's no-data policy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from detectors import AnomalyScorer, EWMeanVar, QuantileSketch, default_scorer, jensen_shannon
from monitor.core import signals
from monitor.core.alerting import FIRING, INACTIVE, AlertState
from monitor.core.buckets import LAT_N, REJECTED, latency_bin
from monitor.core.model import Rule
from monitor.core.scopes import Scope
from monitor.core.stats import BernoulliCusum, msprt_two_proportions

_OPS = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


@dataclass(slots=True)
class Observation:
    """One evaluation of a rule at event time ``ts``."""

    ts: float
    value: float | None = None
    baseline: float | None = None
    threshold: float | None = None
    samples: float = 0.0
    active: bool | None = None  # None: no data or below the minimum sample gate
    comparator: str = ">"
    stats: dict[str, float] = field(default_factory=dict)
    signal_value: float | None = None
    """The signal over the window where ``value`` is a test statistic (cusum), for gauges."""


@dataclass(slots=True)
class Context:
    """What a rule may read at one step besides its own scope."""

    ts: float
    step: int
    resolution_s: float
    mismatches: dict[str, list[str]]  # variant -> objects in mismatch beyond tolerance


PROTECT = 0.75
"""``learned`` sigma bands learn only values within this fraction of the band's half-width."""


def _learner(rule: Rule) -> Any:
    th = rule.threshold
    if th.method == "quantile":
        return QuantileSketch(half_life=th.half_life_s, min_samples=th.min_history)
    if th.method == "score":
        # refractory 0: a persisting anomaly keeps its score, as `for` needs.
        return default_scorer(warmup=max(2, th.min_history), refractory=0.0)
    return EWMeanVar(half_life=th.half_life_s, min_samples=th.min_history)


def _learner_from_state(rule: Rule, state: dict[str, Any]) -> Any:
    method = rule.threshold.method
    if method == "quantile":
        return QuantileSketch.from_state(state)
    if method == "score":
        return AnomalyScorer.from_state(state)
    return EWMeanVar.from_state(state)


class RuleInstance:
    """One alert instance of a rule (one per segment for ``per_segment`` rules)."""

    __slots__ = (
        "advised",
        "alert",
        "compares",
        "cusum",
        "first_value_at",
        "last",
        "last_learn",
        "latched",
        "learner",
        "rule",
        "segkey",
    )

    def __init__(self, rule: Rule, segkey: str) -> None:
        self.rule = rule
        self.segkey = segkey
        self.alert = AlertState()
        self.learner = _learner(rule) if rule.threshold.kind == "learned" else None
        self.last_learn: float | None = None
        self.first_value_at: float | None = None  # first evaluation with a value (learned)
        self.latched = False
        self.cusum = BernoulliCusum() if rule.threshold.method == "cusum" else None
        self.advised = False  # dry-run advisory already sent for this firing episode
        self.last: Observation | None = None
        self.compares = (
            rule.threshold.kind == "vs_baseline" or rule.signal == "reject_mix_divergence"
        )

    @property
    def label(self) -> str:
        return f"{self.rule.name}{{{self.segkey}}}" if self.rule.per_segment else self.rule.name

    @property
    def healthy(self) -> bool:
        """Evaluated with a verdict (or no data is fine) and not pending nor firing."""
        last = self.last
        if self.alert.state != INACTIVE or last is None:
            return False
        if last.active is None:
            return self.rule.no_data == "ok" or bool(last.stats.get("no_reference"))
        return last.active is False

    def no_reference(self, ts: float) -> None:
        """No baseline variant to compare with (all traffic on the new path): not gating."""
        self.alert.step(ts, False, for_s=0.0, keep_firing_for_s=0.0)
        if self.cusum is not None:
            self.cusum.reset()
        self.last = Observation(ts=ts, stats={"no_reference": 1.0})

    def step(self, obs: Observation) -> str:
        """Apply one observation to the alert state (honouring the no-data policy)."""
        rule = self.rule
        self.last = obs
        active = obs.active
        if active is None:
            if rule.no_data == "fire" and obs.samples <= 0:
                active = True
            elif rule.no_data == "ok":
                active = False
            else:
                return self.alert.state  # hold: no verdict, state unchanged
        state = self.alert.step(
            obs.ts, active, for_s=rule.for_s, keep_firing_for_s=rule.keep_firing_for_s
        )
        if state != FIRING:
            self.advised = False
        return state

    def learn(self, obs: Observation, resolution_s: float = 1.0) -> None:
        """Feed the learned baseline, once per window, only from healthy evaluations.

        Protected like river's ``protect_anomaly_detector``: nothing is learned while the
        alert is pending or firing, nor a value that breaches the band or lies in its outer
        part (``sigma``: beyond ``PROTECT`` x the band's half-width from the mean, either
        side), so a rise that hovers just under the threshold is not absorbed and cannot
        drag the band up after it. Only full windows are learned (a window still filling
        after the first data is a noisy rate that would inflate sigma).
        """
        if self.learner is None or obs.value is None:
            return
        if self.first_value_at is None:
            self.first_value_at = obs.ts
        if obs.samples < self.rule.min_samples:
            return
        if obs.ts - self.first_value_at < self.rule.window_s - resolution_s:
            return  # the window does not span data only yet (it is still filling)
        if self.alert.state != INACTIVE or obs.active or obs.stats.get("score", 0.0) > 0.5:
            return  # protect the baseline from the anomaly it should detect
        if (
            self.rule.threshold.method == "sigma"
            and obs.baseline is not None
            and obs.threshold is not None
            and abs(obs.value - obs.baseline)
            > PROTECT * obs.stats.get("band", abs(obs.threshold - obs.baseline))
        ):
            return  # near the band's edge: not evidence of what normal is
        if self.last_learn is not None and obs.ts - self.last_learn < self.rule.window_s:
            return
        self.last_learn = obs.ts
        if isinstance(self.learner, AnomalyScorer):
            self.learner.learn_one(obs.value, obs.ts)
        else:
            self.learner.update(obs.value, obs.ts)

    def reset_stage(self) -> None:
        self.alert.reset()
        self.latched = False
        if self.cusum is not None:
            self.cusum.reset()
        self.advised = False

    def to_state(self) -> dict[str, Any]:
        last = self.last
        return {
            "alert": self.alert.to_state(),
            "learner": None if self.learner is None else self.learner.state_dict(),
            "last_learn": self.last_learn,
            "first_value_at": self.first_value_at,
            "latched": self.latched,
            "cusum": None if self.cusum is None else [self.cusum.s, self.cusum.alarmed],
            "advised": self.advised,
            "last": None
            if last is None
            else [
                last.ts,
                last.value,
                last.baseline,
                last.threshold,
                last.samples,
                last.active,
                last.comparator,
                sorted(last.stats.items()),
                last.signal_value,
            ],
        }

    def load(self, state: dict[str, Any]) -> None:
        self.alert = AlertState.from_state(state["alert"])
        if state["learner"] is not None:
            self.learner = _learner_from_state(self.rule, state["learner"])
        self.last_learn = state["last_learn"]
        self.first_value_at = state.get("first_value_at")
        self.latched = bool(state["latched"])
        saved = state.get("cusum")
        if self.cusum is not None and saved is not None:
            self.cusum = BernoulliCusum(float(saved[0]), bool(saved[1]))
        self.advised = bool(state["advised"])
        last = state["last"]
        if last is not None:
            self.last = Observation(
                ts=last[0],
                value=last[1],
                baseline=last[2],
                threshold=last[3],
                samples=last[4],
                active=last[5],
                comparator=last[6],
                stats=dict(last[7]),
                signal_value=last[8] if len(last) > 8 else None,  # older checkpoints: next step
            )


def _gauge(rule: Rule, scope: Scope, ctx: Context) -> tuple[float | None, float]:
    if rule.signal == "freshness_s":
        if scope.last_seen is None:
            return None, 0.0
        return max(0.0, ctx.ts - scope.last_seen), 1.0
    if rule.signal == "status_mismatches":
        return float(len(ctx.mismatches.get(rule.variant, ()))), 1.0
    if scope.pnl_n <= 0:
        return None, 0.0
    if rule.signal == "pnl_cum":
        return scope.pnl_cum, scope.pnl_n
    return scope.pnl_peak - scope.pnl_cum, scope.pnl_n  # drawdown


def evaluate(inst: RuleInstance, scope: Scope, base: Scope | None, ctx: Context) -> Observation:
    """Evaluate a rule instance on its scope (and the baseline variant's) at ``ctx.ts``."""
    rule = inst.rule
    th = rule.threshold
    obs = Observation(ts=ctx.ts, comparator=th.op)
    wsteps = round(rule.window_s / ctx.resolution_s)
    if th.kind == "burn_rate":
        return _burn_rate(rule, scope, ctx, obs)
    if th.method == "cusum":
        return _cusum(inst, scope, base, obs, wsteps, ctx.step)
    if rule.signal in signals.GAUGE_SIGNALS:
        value, samples = _gauge(rule, scope, ctx)
    elif rule.signal == "reject_mix_divergence":
        if base is None:
            return obs
        mine, theirs = scope.windows[wsteps], base.windows[wsteps]
        samples = min(mine.c[REJECTED], theirs.c[REJECTED])
        value = jensen_shannon(mine.reasons, theirs.reasons) if samples > 0 else None
    elif th.kind == "vs_baseline" and th.method == "sequential":
        return _sequential(inst, scope, base, obs, wsteps)
    else:
        value, samples = signals.window_value(rule.signal, scope.windows[wsteps], rule.window_s)
    obs.value, obs.samples = value, samples
    if value is None or samples < rule.min_samples:
        return obs
    if th.kind == "absolute":
        obs.threshold = th.value
        obs.active = _OPS[th.op](value, th.value)
    elif th.kind == "vs_baseline":
        _compare(rule, scope, base, obs, wsteps)
    else:
        _learned(inst, obs)
        if rule.threshold.market_guard and obs.threshold is not None:
            _market_guard(rule, base, obs, wsteps)
    return obs


def _compare(rule: Rule, scope: Scope, base: Scope | None, obs: Observation, wsteps: int) -> None:
    th = rule.threshold
    if base is None or obs.value is None:
        obs.active = None
        return
    ref, ref_samples = signals.window_value(rule.signal, base.windows[wsteps], rule.window_s)
    obs.baseline = ref
    obs.stats["baseline_samples"] = ref_samples
    if ref is None or ref_samples < rule.min_samples:
        obs.active = None
        return
    if th.method == "ratio":
        if ref <= 0:
            obs.active = None
            return
        obs.threshold = ref * th.value
        obs.comparator = f"ratio{th.op}"
        obs.stats["ratio"] = obs.value / ref
    else:
        obs.threshold = ref + th.value
        obs.comparator = f"difference{th.op}"
        obs.stats["difference"] = obs.value - ref
    obs.active = _OPS[th.op](obs.value, obs.threshold)


def _learned(inst: RuleInstance, obs: Observation) -> None:
    th = inst.rule.threshold
    learner = inst.learner
    assert obs.value is not None and learner is not None
    if not learner.ready:
        obs.active = None
        obs.stats["history"] = float(learner.n)
        return
    upward = th.op in (">", ">=")
    value = obs.value
    if th.method == "quantile":
        ref = learner.quantile(th.q)
        obs.baseline = ref
        delta = max(abs(ref) * th.margin, th.min_delta)
        obs.threshold = ref + delta if th.op in (">", ">=") else ref - delta
    elif th.method == "score":
        # detectors' default scorer is two-sided: keep only excursions in the rule's direction
        score = learner.score_one(value, obs.ts)
        obs.baseline = learner.m
        obs.stats["score"] = score
        obs.threshold = th.value
        obs.comparator = "score>"
        obs.active = score > th.value and (value > learner.m if upward else value < learner.m)
        return
    else:
        ref, sd = learner.mean, learner.std
        obs.baseline = ref
        obs.stats["sigma"] = sd
        delta = max(th.k * sd, th.min_delta)
        obs.threshold = ref + delta if th.op in (">", ">=") else ref - delta
    obs.active = _OPS[th.op](value, obs.threshold)


def _market_guard(rule: Rule, base: Scope | None, obs: Observation, wsteps: int) -> None:
    """``market_guard``: the band never sits below the baseline variant's value right now.

    A move of the whole market (volatility raising every path's rejects) is not the new
    path's fault: the threshold becomes at least the baseline variant's current value plus
    the learned band's width, so only what the new path adds on top of the market breaches.
    """
    if base is None or obs.value is None or obs.baseline is None or obs.threshold is None:
        return
    ref, ref_samples = signals.window_value(rule.signal, base.windows[wsteps], rule.window_s)
    if ref is None or ref_samples < rule.min_samples:
        return
    width = obs.threshold - obs.baseline
    obs.stats["band"] = abs(width)  # the learned band, before the guard (what learn protects)
    obs.stats["baseline_variant"] = ref
    obs.threshold = (
        max(obs.threshold, ref + width) if width >= 0 else min(obs.threshold, ref + width)
    )
    obs.active = _OPS[rule.threshold.op](obs.value, obs.threshold)


def _sequential(
    inst: RuleInstance, scope: Scope, base: Scope | None, obs: Observation, wsteps: int
) -> Observation:
    rule = inst.rule
    if base is None:
        return obs
    windowed = rule.threshold.over == "window"
    mine = scope.windows[wsteps] if windowed else scope.stage_total
    theirs = base.windows[wsteps] if windowed else base.stage_total
    x_v, n_v = signals.rate_counts(rule.signal, mine)
    x_b, n_b = signals.rate_counts(rule.signal, theirs)
    obs.samples = min(n_v, n_b)
    obs.value = x_v / n_v if n_v > 0 else None
    obs.baseline = x_b / n_b if n_b > 0 else None
    if obs.samples <= 0 or obs.samples < rule.min_samples:
        return obs
    e_value = msprt_two_proportions(x_v, n_v, x_b, n_b)
    obs.threshold = 1.0 / rule.threshold.alpha
    obs.comparator = "e_value>="
    obs.stats.update({"e_value": e_value, "samples_variant": n_v, "samples_baseline": n_b})
    if windowed:
        # the window's evidence: it must hold for `for`, a blip leaves the window and clears
        obs.active = e_value >= obs.threshold
        return obs
    # Anytime-valid: once the evidence crossed 1/alpha in this stage, the verdict stands.
    inst.latched = inst.latched or e_value >= obs.threshold
    obs.active = inst.latched
    return obs


RECENT_STEPS = 5
"""A ``cusum``'s rate reference is at least the reference's rate over its last steps."""


def _cusum(
    inst: RuleInstance, scope: Scope, base: Scope | None, obs: Observation, wsteps: int, step: int
) -> Observation:
    """Add this step's events to the rule's CUSUM against its reference rate (see Threshold).

    A baseline variant's rate of 0 in the window would make one bad event infinite
    evidence: the reference is the window's rate with half an event added, (x + 0.5)/(n + 1),
    and at least the same over the reference's last ``RECENT_STEPS`` steps.
    """
    rule = inst.rule
    th = rule.threshold
    cusum = inst.cusum
    assert cusum is not None
    quantile = signals.QUANTILES.get(rule.signal)
    obs.comparator = "cusum>="
    limit = None
    if th.kind == "vs_baseline":
        if base is None:
            return obs
        ref_w = base.windows[wsteps]
        if quantile is not None:
            ref, ref_n = ref_w.quantile(quantile), float(ref_w.c[LAT_N])
        else:
            x_b, ref_n = signals.rate_counts(rule.signal, ref_w)
            ref = (x_b + 0.5) / (ref_n + 1.0)
            x_r = n_r = 0.0
            for s in range(step - RECENT_STEPS + 1, step + 1):
                b = base.history.get(s)
                if b is not None:
                    x, n = signals.rate_counts(rule.signal, b)
                    x_r, n_r = x_r + x, n_r + n
            if n_r > 0:
                # the window lags a sudden rise of the reference: what it shows right now
                # (a market-wide or variant-wide jump) is not the variant's or segment's fault
                ref = max(ref, (x_r + 0.5) / (n_r + 1.0))
        mine = scope.windows[wsteps]
        obs.signal_value = signals.window_value(rule.signal, mine, rule.window_s)[0]
        own_n = (
            float(mine.c[LAT_N])
            if quantile is not None
            else signals.rate_counts(rule.signal, mine)[1]
        )
        obs.samples = min(own_n, ref_n)
        obs.stats["baseline_samples"] = ref_n
        if ref is None or ref_n <= 0 or obs.samples < rule.min_samples:
            # No trustworthy reference, or too thin a flow on the variant: its evidence would
            # drain too slowly after a blip for `for` to tell the two apart. No verdict.
            return obs
        if quantile is not None:
            limit = ref * th.value
            p0 = 1.0 - quantile
            obs.stats["limit"] = limit
            obs.stats["baseline_quantile"] = ref
        else:
            p0 = ref + th.value
    else:
        obs.signal_value, obs.samples = signals.window_value(
            rule.signal, scope.windows[wsteps], rule.window_s
        )
        if obs.samples < rule.min_samples:
            return obs
        p0 = th.value if th.op in (">", ">=") else 1.0 - th.value
    p0 = min(max(p0, 1e-9), 1.0 - th.shift - 1e-9)
    p1 = p0 + th.shift
    now = scope.history.get(step)
    bad = n = 0.0
    if now is not None:
        if limit is not None:
            over = latency_bin(limit)
            n = float(now.c[LAT_N])
            bad = float(sum(k for b, k in now.hist.items() if b > over))
        else:
            bad, n = signals.rate_counts(rule.signal, now)
            if th.op in ("<", "<="):
                bad = n - bad  # a rate that must stay high: its misses are the bad events
    obs.active = cusum.step(bad, n, p0, p1, h=th.h, cap=th.cap)
    obs.value, obs.baseline, obs.threshold = cusum.s, p0, th.h
    obs.stats.update({"cusum": cusum.s, "p0": p0, "p1": p1, "step_bad": bad, "step_n": n})
    return obs


def _burn_rate(rule: Rule, scope: Scope, ctx: Context, obs: Observation) -> Observation:
    th = rule.threshold
    budget = 1.0 - th.slo
    long_w = scope.windows[round(th.long_s / ctx.resolution_s)]
    short_w = scope.windows[round(th.short_s / ctx.resolution_s)]
    bad_l, n_l = signals.rate_counts(rule.signal, long_w)
    bad_s, n_s = signals.rate_counts(rule.signal, short_w)
    obs.samples = n_l
    obs.stats["samples_short"] = n_s
    min_long = th.long_min_samples or rule.min_samples
    min_short = th.short_min_samples or rule.min_samples
    if n_l <= 0 or n_s <= 0 or n_l < min_long or n_s < min_short:
        return obs  # a burn over too few events is noise, not evidence: no verdict
    burn_l = bad_l / n_l / budget
    burn_s = bad_s / n_s / budget
    obs.value = burn_l
    obs.threshold = th.factor
    obs.comparator = "burn>"
    obs.stats.update(
        {
            "burn_short": burn_s,
            "rate_long": bad_l / n_l,
            "rate_short": bad_s / n_s,
            "samples_short": n_s,
        }
    )
    obs.active = burn_l > th.factor and burn_s > th.factor
    return obs


def window_steps(rule: Rule, resolution_s: float) -> list[int]:
    """Window lengths (steps) a rule needs in its scopes."""
    th = rule.threshold
    if th.kind == "burn_rate":
        return [round(th.long_s / resolution_s), round(th.short_s / resolution_s)]
    return [max(1, round(rule.window_s / resolution_s))]


def finite(x: float | None) -> float | None:
    """JSON-safe float: None for missing or non-finite values.

    Always a float (integer sums such as P&L would otherwise encode as ``629`` and decode
    as ``629.0``, changing the canonical bytes a signature covers).

    >>> finite(629), finite(float("inf")), finite(None)
    (629.0, None, None)
    """
    return float(x) if x is not None and math.isfinite(x) else None
