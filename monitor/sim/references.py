"""Reference policies that emulate interval-polling canary tools, on the same event stream.

Neither is the real tool; each keeps the one property that matters for the comparison:

* :class:`FlaggerStyle` — every ``interval_s`` (Flagger's ``analysis.interval``, 1 m) it
  checks the canary's last interval against **fixed** thresholds (Flagger's
  ``thresholdRange``: request success rate, request duration, custom metrics); each interval
  with a failing metric, or with no canary data, counts one failed check, and after
  ``max_failed`` failed checks (Flagger's ``analysis.threshold``, 5 in its docs) it rolls back.
  Failed checks accumulate over the analysis, as in Flagger.
* :class:`KayentaStyle` — every ``interval_s`` it compares the canary's and the baseline's
  samples of the interval per metric with a Mann-Whitney U test (Kayenta's NetflixACAJudge),
  scores the share of metrics that pass, and fails the canary (rollback) at the first interval
  whose score is below ``marginal`` or whose critical metric fails.

Both see only order telemetry of the canary and the baseline — what their metric queries
would see — not status events or shadow decisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
from scipy.stats import mannwhitneyu

from topics.events import Event, Order, Plan

_ERROR_KINDS: Final = frozenset({"timeout", "disconnect", "off_quotes", "internal"})


@dataclass(frozen=True, slots=True)
class RefAction:
    ts: float
    action: str
    reason: str


@dataclass
class _Interval:
    latency: list[float] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    rejects: list[float] = field(default_factory=list)
    pnl: list[float] = field(default_factory=list)
    failovers: int = 0


class _IntervalPolicy:
    """Buckets canary and baseline orders by fixed event-time intervals from registration."""

    name = "reference"

    def __init__(self, rollout_id: str, interval_s: float) -> None:
        self.rollout_id = rollout_id
        self.interval_s = interval_s
        self.actions: list[RefAction] = []
        self._start: float | None = None
        self._next: float | None = None
        self._cur = {"canary": _Interval(), "baseline": _Interval()}
        self.done = False

    def process(self, events: Sequence[Event]) -> None:
        for ev in events:
            if ev.rollout_id != self.rollout_id:
                continue
            if self._next is None:
                if not isinstance(ev, Plan):
                    continue
                self._start = ev.ts
                self._next = ev.ts + self.interval_s
            while ev.ts >= self._next:
                self._close(self._next)
                self._next += self.interval_s
            if isinstance(ev, Order) and ev.variant in self._cur:
                bucket = self._cur[ev.variant]
                bucket.latency.append(ev.latency_ms or 0.0)
                bucket.errors.append(1.0 if ev.error in _ERROR_KINDS else 0.0)
                bucket.rejects.append(1.0 if ev.status == "rejected" else 0.0)
                if ev.pnl_minor is not None:
                    bucket.pnl.append(float(ev.pnl_minor))
                bucket.failovers += ev.failover

    def _close(self, ts: float) -> None:
        canary, baseline = self._cur["canary"], self._cur["baseline"]
        self._cur = {"canary": _Interval(), "baseline": _Interval()}
        if not self.done:
            self.judge(ts, canary, baseline)

    def judge(self, ts: float, canary: _Interval, baseline: _Interval) -> None:
        raise NotImplementedError

    def act(self, ts: float, reason: str) -> None:
        self.actions.append(RefAction(ts, "rollback", reason))
        self.done = True  # the tool rolls back and ends the analysis


class FlaggerStyle(_IntervalPolicy):
    """Fixed thresholds per interval; rollback after ``max_failed`` failed checks."""

    name = "flagger-style"

    def __init__(
        self,
        rollout_id: str,
        *,
        interval_s: float = 60.0,
        max_failed: int = 5,
        max_error_rate: float = 0.01,
        max_p99_ms: float = 120.0,
        max_reject_rate: float = 0.03,
        max_failovers: int = 5,
        min_pnl_minor: float = -500_000.0,
    ) -> None:
        super().__init__(rollout_id, interval_s)
        self.max_failed = max_failed
        self.limits = (max_error_rate, max_p99_ms, max_reject_rate, max_failovers, min_pnl_minor)
        self.failed = 0

    def judge(self, ts: float, canary: _Interval, baseline: _Interval) -> None:
        max_err, max_p99, max_rej, max_fo, min_pnl = self.limits
        reasons: list[str] = []
        if not canary.latency:
            reasons.append("no data")
        else:
            if float(np.mean(canary.errors)) > max_err:
                reasons.append("error rate")
            if float(np.percentile(canary.latency, 99)) > max_p99:
                reasons.append("p99 latency")
            if float(np.mean(canary.rejects)) > max_rej:
                reasons.append("reject rate")
            if canary.failovers > max_fo:
                reasons.append("failovers")
            if sum(canary.pnl) < min_pnl:
                reasons.append("P&L")
        if reasons:
            self.failed += 1
            if self.failed >= self.max_failed:
                self.act(ts, f"{self.failed} failed checks (last: {', '.join(reasons)})")


class KayentaStyle(_IntervalPolicy):
    """Mann-Whitney U per metric per interval, canary vs baseline; fail below ``marginal``."""

    name = "kayenta-style"

    def __init__(
        self,
        rollout_id: str,
        *,
        interval_s: float = 60.0,
        alpha: float = 0.01,
        min_effect: float = 0.10,
        marginal: float = 75.0,
        min_samples: int = 50,
    ) -> None:
        super().__init__(rollout_id, interval_s)
        self.alpha = alpha
        self.min_effect = min_effect
        self.marginal = marginal
        self.min_samples = min_samples

    def _metric_fails(self, canary: list[float], baseline: list[float], worse: str) -> bool:
        """A metric fails when the canary is significantly and materially worse."""
        if len(canary) < self.min_samples or len(baseline) < self.min_samples:
            return False  # Kayenta marks it NODATA; it does not count against the canary
        c, b = np.asarray(canary), np.asarray(baseline)
        if np.ptp(np.concatenate([c, b])) == 0:
            return False
        alternative = "greater" if worse == "higher" else "less"
        p = float(mannwhitneyu(c, b, alternative=alternative).pvalue)
        cm, bm = float(np.mean(c)), float(np.mean(b))
        scale = max(abs(bm), 1e-9)
        effect = (cm - bm) / scale if worse == "higher" else (bm - cm) / scale
        return p < self.alpha and effect > self.min_effect

    def judge(self, ts: float, canary: _Interval, baseline: _Interval) -> None:
        if not canary.latency and baseline.latency:
            self.act(ts, "canary reported no data")
            return
        results = {
            "latency": self._metric_fails(canary.latency, baseline.latency, "higher"),
            "errors": self._metric_fails(canary.errors, baseline.errors, "higher"),
            "rejects": self._metric_fails(canary.rejects, baseline.rejects, "higher"),
            "pnl": self._metric_fails(canary.pnl, baseline.pnl, "lower"),
        }
        critical = ("latency", "errors")
        score = 100.0 * sum(not failed for failed in results.values()) / len(results)
        failed = [k for k, v in results.items() if v]
        if score < self.marginal or any(results[k] for k in critical):
            self.act(ts, f"score {score:.0f} (failed: {', '.join(failed)})")
