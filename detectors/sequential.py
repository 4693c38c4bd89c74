"""Anytime-valid sequential test for counts (errors, rejects, timeouts): canary vs baseline.

Lindon & Malek 2022, "Anytime-valid inference for multinomial count data" (NeurIPS), and Lindon,
Sanden & Shirikian 2022, "Rapid regression detection in software deployments through sequential
testing" (KDD), Netflix's canary method: model each variant's events as a Poisson process whose
rate is proportional to its traffic share. Given an event happened, it came from the canary with
probability ``p = ρθ / (ρθ + 1 - ρ)`` (``ρ`` the canary's traffic share, ``θ`` the canary/baseline
rate ratio), so the null "no difference" is ``p = ρ``. Mixing the binomial likelihood over a Beta
prior centred on ``ρ`` gives a closed-form Bayes factor that is a nonnegative martingale under
the null, so by Ville's inequality ``P(sup_n BF_n ≥ 1/α) ≤ α``: the test may be checked after
every event, for ever, and its false-positive rate stays ≤ α. The decision is sticky: the first
time the e-value reaches ``1/α`` the direction is fixed (from the estimate at that moment).
Inverting the same Bayes factor gives a confidence sequence for ``θ`` (computed on ``result()``).

Assumes the traffic share is fixed for the life of the test: start a new test at each rollout
step. Written from the papers (the ``savvi`` package is the authors' reference implementation;
it is not a runtime dependency).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Self

from detectors._common import check_positive, check_state, check_unit, check_variant, header
from detectors.result import Comparison, Direction


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


class SequentialCountTest:
    """Anytime-valid test of the canary/baseline event-rate ratio (Beta-binomial mixture).

    Parameters
    ----------
    canary_share
        Fraction of traffic (exposure) the canary receives, ρ in (0, 1).
    alpha
        Type-I error bound, valid however often ``result()`` is checked.
    concentration
        Strength κ of the Beta(κρ, κ(1-ρ)) mixing prior: larger finds small effects sooner and
        large ones later.
    min_events
        Events (both sides) before a direction may be reported.

    Examples
    --------
    >>> from detectors import SequentialCountTest
    >>> test = SequentialCountTest(canary_share=0.5)
    >>> for i in range(150):
    ...     test.update("canary" if i % 3 else "baseline")  # canary has 2x the errors
    >>> r = test.result()
    >>> r.direction, round(r.effect, 2), r.p_value < 0.05
    ('higher', 1.99, True)
    >>> r.interval[0] > 1.0
    True
    """

    def __init__(
        self,
        canary_share: float = 0.5,
        alpha: float = 0.05,
        concentration: float = 20.0,
        min_events: int = 10,
    ) -> None:
        check_unit("canary_share", canary_share)
        check_unit("alpha", alpha)
        check_positive("concentration", concentration)
        self.canary_share = float(canary_share)
        self.alpha = float(alpha)
        self.concentration = float(concentration)
        self.min_events = int(min_events)
        self._a = concentration * canary_share
        self._b = concentration * (1.0 - canary_share)
        self.x_canary = 0
        self.x_baseline = 0
        self.max_log_e = 0.0
        self.decision: Direction = "none"  # sticky once the e-value crossed 1/alpha

    @property
    def ready(self) -> bool:
        """True once ``min_events`` events were counted."""
        return self.x_canary + self.x_baseline >= self.min_events

    def _log_mix(self) -> float:
        a, b, x, y = self._a, self._b, self.x_canary, self.x_baseline
        return _log_beta(a + x, b + y) - _log_beta(a, b)

    def _log_e(self, p0: float) -> float:
        """log Bayes factor of the mixture against ``p = p0``."""
        x, y = self.x_canary, self.x_baseline
        loglik = (x * math.log(p0) if x else 0.0) + (y * math.log1p(-p0) if y else 0.0)
        return self._log_mix() - loglik

    def update(self, variant: str, value: float = 1.0) -> None:
        """Count ``value`` events (a non-negative integer) from ``variant``."""
        if not math.isfinite(value) or value < 0 or int(value) != value:
            raise ValueError(f"value must be a non-negative integer count, got {value!r}")
        count = int(value)
        if count == 0:
            return
        if check_variant(variant):
            self.x_canary += count
        else:
            self.x_baseline += count
        log_e = self._log_e(self.canary_share)
        if log_e > self.max_log_e:
            self.max_log_e = log_e
            if self.decision == "none" and log_e >= math.log(1.0 / self.alpha):
                share = self.x_canary / (self.x_canary + self.x_baseline)
                self.decision = "higher" if share > self.canary_share else "lower"

    def _interval(self) -> tuple[float, float]:
        """{p0 : BF(p0) < 1/α} at this time, by bisection on both sides of the MLE."""
        n = self.x_canary + self.x_baseline
        limit = math.log(1.0 / self.alpha)
        mle = min(max(self.x_canary / n, 1e-12), 1.0 - 1e-12)

        def inside(p0: float) -> bool:
            return self._log_e(p0) < limit

        def edge(outside: float, centre: float) -> float:
            lo_, hi_ = outside, centre
            for _ in range(60):
                mid = 0.5 * (lo_ + hi_)
                if inside(mid):
                    hi_ = mid
                else:
                    lo_ = mid
            return hi_

        lower = 0.0 if inside(1e-12) else edge(1e-12, mle)
        upper = 1.0 if inside(1.0 - 1e-12) else edge(1.0 - 1e-12, mle)
        return lower, upper

    def _ratio(self, p: float) -> float:
        rho = self.canary_share
        if p >= 1.0:
            return math.inf
        return p * (1.0 - rho) / ((1.0 - p) * rho)

    def result(self) -> Comparison:
        """Direction, rate ratio with its confidence sequence, e-value and anytime p-value."""
        n = self.x_canary + self.x_baseline
        e_now = math.exp(min(self._log_e(self.canary_share), 700.0)) if n else 1.0
        p_value = min(1.0, math.exp(-self.max_log_e))
        direction: Direction = self.decision if self.ready else "none"
        lo, hi = self._interval() if n else (0.0, 1.0)
        # Rate ratio with half-count continuity: finite with zero counts on either side.
        p_hat = (self.x_canary + 0.5) / (n + 1.0)
        return Comparison(
            direction=direction,
            effect=self._ratio(p_hat),
            interval=(self._ratio(lo), self._ratio(hi)),
            p_value=p_value,
            e_value=e_now,
            enough_data=self.ready,
            n_baseline=self.x_baseline,
            n_canary=self.x_canary,
            method="beta-binomial mixture SPRT (Lindon & Malek 2022)",
            effect_kind="rate_ratio",
        )

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            **header(self),
            "canary_share": self.canary_share,
            "alpha": self.alpha,
            "concentration": self.concentration,
            "min_events": self.min_events,
            "x_canary": self.x_canary,
            "x_baseline": self.x_baseline,
            "max_log_e": self.max_log_e,
            "decision": self.decision,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild from :meth:`state_dict` output."""
        check_state(cls, state)
        obj = cls(
            canary_share=state["canary_share"],
            alpha=state["alpha"],
            concentration=state["concentration"],
            min_events=state["min_events"],
        )
        obj.x_canary = int(state["x_canary"])
        obj.x_baseline = int(state["x_baseline"])
        obj.max_log_e = float(state["max_log_e"])
        obj.decision = state["decision"]
        return obj
