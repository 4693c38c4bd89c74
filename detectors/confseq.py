"""Anytime-valid confidence sequence for the difference of means, canary minus baseline.

The Gaussian-mixture boundary of Robbins 1970 ("Statistical methods related to the law of the
iterated logarithm"), in the asymptotic form of Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas
2021, "Time-uniform central limit theory and asymptotic confidence sequences" (arXiv:2103.06476):
with ``V = s_c²/n_c + s_b²/n_b`` the variance of the difference of sample means and ``τ = 1/V``
its information, the set ``|Δ̂ - Δ| ≤ √((1 + τr²)/r² · (2 log(1/α) + log(1 + τr²))) / τ`` covers
the true difference ``Δ`` at every time simultaneously with probability ≥ 1 - α (asymptotically,
as the variance estimates settle), so it can be checked after every observation. ``r`` is the
mixing prior's spread on the effect, set from the warm-up spread (``prior_effect`` SDs). With
``log=True`` values are log-transformed first (latency: multiplicative effects, tamer tails) and
the effect is reported as the ratio of geometric means. Intervals are intersected over time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Self

from detectors._common import check_positive, check_state, check_unit, check_variant, header
from detectors.result import Comparison, Direction


class MeanDifferenceCS:
    """Anytime-valid confidence sequence on mean(canary) - mean(baseline).

    Parameters
    ----------
    alpha
        Error bound over the whole (unbounded) sequence of checks.
    log
        Compare ``log(value)`` (values must be > 0); the effect becomes a ratio.
    prior_effect
        Spread of the mixing prior, in standard deviations of one observation: the effect size
        the boundary is tuned to detect soonest.
    min_samples
        Samples per side before a direction may be reported.

    Examples
    --------
    >>> import random
    >>> from detectors import MeanDifferenceCS
    >>> rng = random.Random(5)
    >>> cs = MeanDifferenceCS(log=True)
    >>> for _ in range(2000):
    ...     cs.update("baseline", rng.lognormvariate(3.0, 0.5))
    ...     cs.update("canary", 1.2 * rng.lognormvariate(3.0, 0.5))
    >>> r = cs.result()
    >>> r.direction, r.interval[0] > 1.0, round(r.effect, 1)
    ('higher', True, 1.2)
    """

    def __init__(
        self,
        alpha: float = 0.05,
        log: bool = False,
        prior_effect: float = 0.25,
        min_samples: int = 20,
    ) -> None:
        check_unit("alpha", alpha)
        check_positive("prior_effect", prior_effect)
        if min_samples < 2:
            raise ValueError(f"min_samples must be >= 2, got {min_samples!r}")
        self.alpha = float(alpha)
        self.log = bool(log)
        self.prior_effect = float(prior_effect)
        self.min_samples = int(min_samples)
        # Welford accumulators per side: [n, mean, m2]
        self.canary = [0.0, 0.0, 0.0]
        self.baseline = [0.0, 0.0, 0.0]
        self.r2 = 0.0  # mixing variance, fixed once both sides have warmed up
        self.lo = -math.inf
        self.hi = math.inf
        self.decision: Direction = "none"
        self.max_log_e = 0.0

    @property
    def ready(self) -> bool:
        """True once both sides have ``min_samples`` values."""
        return min(self.canary[0], self.baseline[0]) >= self.min_samples

    def update(self, variant: str, value: float) -> None:
        """Add one observation of ``variant``."""
        if not math.isfinite(value):  # bad input is not data: ignore it
            return
        if self.log:
            if value <= 0.0:
                raise ValueError(f"log=True needs values > 0, got {value!r}")
            value = math.log(value)
        acc = self.canary if check_variant(variant) else self.baseline
        acc[0] += 1.0
        delta = value - acc[1]
        acc[1] += delta / acc[0]
        acc[2] += delta * (value - acc[1])
        if self.ready:
            self._check()

    def _variance(self) -> float:
        (nc, _, m2c), (nb, _, m2b) = self.canary, self.baseline
        return m2c / (nc - 1.0) / nc + m2b / (nb - 1.0) / nb

    def _radius(self) -> float:
        v = self._variance()
        if v <= 0.0:
            return 0.0
        tau = 1.0 / v
        tr = tau * self.r2
        return (
            math.sqrt((1.0 + tr) / self.r2 * (2.0 * math.log(1.0 / self.alpha) + math.log1p(tr)))
            / tau
        )

    def _check(self) -> None:
        if self.r2 <= 0.0:
            (nc, _, m2c), (nb, _, m2b) = self.canary, self.baseline
            pooled = (m2c + m2b) / (nc + nb - 2.0)
            self.r2 = (self.prior_effect**2) * pooled if pooled > 0 else 1e-12
        diff = self.canary[1] - self.baseline[1]
        rad = self._radius()
        self.lo = max(self.lo, diff - rad)
        self.hi = min(self.hi, diff + rad)
        self.max_log_e = max(self.max_log_e, self._log_e())
        if self.decision == "none":
            if self.lo > 0.0:
                self.decision = "higher"
            elif self.hi < 0.0:
                self.decision = "lower"

    def _log_e(self) -> float:
        """log of the mixture martingale against "no difference"."""
        v = self._variance()
        if v <= 0.0 or self.r2 <= 0.0:
            return 0.0
        tau = 1.0 / v
        z = (self.canary[1] - self.baseline[1]) * tau
        tr = tau * self.r2
        return z * z * self.r2 / (2.0 * (1.0 + tr)) - 0.5 * math.log1p(tr)

    def result(self) -> Comparison:
        """Direction, effect with its confidence sequence, e-value and p-value (1/e)."""
        n_c, n_b = int(self.canary[0]), int(self.baseline[0])
        if not self.ready:
            return Comparison(
                "none", None, None, None, None, False, n_b, n_c, _METHOD, _KIND[self.log]
            )
        diff = self.canary[1] - self.baseline[1]
        log_e = self._log_e()
        lo, hi = self.lo, self.hi
        if self.log:
            effect, interval = math.exp(diff), (math.exp(lo), math.exp(min(hi, 700.0)))
        else:
            effect, interval = diff, (lo, hi)
        return Comparison(
            direction=self.decision,
            effect=effect,
            interval=interval,
            p_value=min(1.0, math.exp(-self.max_log_e)),
            e_value=math.exp(min(log_e, 700.0)),
            enough_data=True,
            n_baseline=n_b,
            n_canary=n_c,
            method=_METHOD,
            effect_kind=_KIND[self.log],
        )

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state (infinite bounds as None)."""
        return {
            **header(self),
            "alpha": self.alpha,
            "log": self.log,
            "prior_effect": self.prior_effect,
            "min_samples": self.min_samples,
            "canary": list(self.canary),
            "baseline": list(self.baseline),
            "r2": self.r2,
            "lo": None if math.isinf(self.lo) else self.lo,
            "hi": None if math.isinf(self.hi) else self.hi,
            "decision": self.decision,
            "max_log_e": self.max_log_e,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild from :meth:`state_dict` output."""
        check_state(cls, state)
        obj = cls(
            alpha=state["alpha"],
            log=state["log"],
            prior_effect=state["prior_effect"],
            min_samples=state["min_samples"],
        )
        obj.canary = [float(x) for x in state["canary"]]
        obj.baseline = [float(x) for x in state["baseline"]]
        obj.r2 = float(state["r2"])
        obj.lo = -math.inf if state["lo"] is None else float(state["lo"])
        obj.hi = math.inf if state["hi"] is None else float(state["hi"])
        obj.decision = state["decision"]
        obj.max_log_e = float(state["max_log_e"])
        return obj


_METHOD = "Gaussian-mixture confidence sequence (Waudby-Smith et al. 2021)"
_KIND = {False: "difference", True: "ratio"}
