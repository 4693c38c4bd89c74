"""Kayenta-style windowed classifier: Mann–Whitney U test with a Hodges–Lehmann effect band.

Spinnaker's Kayenta (Netflix/Google automated canary analysis) compares each metric's canary
and baseline samples with a Mann–Whitney U test and reports the Hodges–Lehmann estimate of the
shift with its confidence interval (Hodges & Lehmann 1963, "Estimates of location based on rank
tests"; the interval is the order-statistic inversion of the U test, Bauer 1972). A metric is
"high"/"low" only when the test rejects *and* the effect is beyond an allowed tolerance, so a
statistically significant but negligible shift passes. Fixed-sample: the p-value is valid for
one look at a window, not for repeated looks (see ``tests/bench/detectors/canary.py`` for what
polling it costs); use :class:`MeanDifferenceCS` or :class:`SequentialCountTest` per event.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from statistics import NormalDist
from typing import Any, Self

import numpy as np
from scipy.stats import mannwhitneyu

from detectors._common import check_state, check_unit, check_variant, header
from detectors.result import Comparison, Direction


def hodges_lehmann(
    canary: np.ndarray, baseline: np.ndarray, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Hodges–Lehmann shift (median of all canary - baseline differences) and its interval.

    Examples
    --------
    >>> import numpy as np
    >>> hl, lo, hi = hodges_lehmann(np.arange(10.0) + 3.0, np.arange(10.0))
    >>> hl, lo <= 3.0 <= hi
    (3.0, True)
    """
    diffs = np.sort(np.subtract.outer(canary, baseline).ravel())
    n, m = len(canary), len(baseline)
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    # Rank of the lower limit from the normal approximation of U's null distribution.
    k = math.floor(n * m / 2.0 - z * math.sqrt(n * m * (n + m + 1) / 12.0))
    k = min(max(k, 0), len(diffs) - 1)
    return float(np.median(diffs)), float(diffs[k]), float(diffs[len(diffs) - 1 - k])


class MannWhitneyClassifier:
    """Windowed canary-vs-baseline classifier (Mann–Whitney U + Hodges–Lehmann band).

    Parameters
    ----------
    window
        Most recent samples kept per side.
    alpha
        Significance level of the (fixed-sample) test.
    tolerance
        Allowed relative effect: with ``log=True`` a ratio within ``1 ± tolerance`` passes; else
        a shift within ``tolerance × |baseline median|``.
    log
        Compare log-values: the effect is a ratio (latency).
    min_samples
        Samples per side before a verdict.

    Examples
    --------
    >>> import random
    >>> from detectors import MannWhitneyClassifier
    >>> rng = random.Random(2)
    >>> mw = MannWhitneyClassifier(window=300, log=True, tolerance=0.05)
    >>> for _ in range(300):
    ...     mw.update("baseline", rng.lognormvariate(2.0, 0.4))
    ...     mw.update("canary", 1.3 * rng.lognormvariate(2.0, 0.4))
    >>> r = mw.result()
    >>> r.direction, 1.2 < r.effect < 1.4, r.p_value < 1e-6
    ('higher', True, True)
    """

    def __init__(
        self,
        window: int = 500,
        alpha: float = 0.05,
        tolerance: float = 0.0,
        log: bool = False,
        min_samples: int = 20,
    ) -> None:
        check_unit("alpha", alpha)
        if window < 2 or min_samples < 2 or tolerance < 0:
            raise ValueError("need window >= 2, min_samples >= 2 and tolerance >= 0")
        self.window = int(window)
        self.alpha = float(alpha)
        self.tolerance = float(tolerance)
        self.log = bool(log)
        self.min_samples = int(min_samples)
        self.canary: deque[float] = deque(maxlen=self.window)
        self.baseline: deque[float] = deque(maxlen=self.window)

    @property
    def ready(self) -> bool:
        """True once both windows hold ``min_samples`` values."""
        return min(len(self.canary), len(self.baseline)) >= self.min_samples

    def update(self, variant: str, value: float) -> None:
        """Add one observation of ``variant`` (the oldest of that side drops out)."""
        if not math.isfinite(value):  # bad input is not data: ignore it
            return
        if self.log and value <= 0.0:
            raise ValueError(f"log=True needs values > 0, got {value!r}")
        (self.canary if check_variant(variant) else self.baseline).append(float(value))

    def result(self) -> Comparison:
        """Mann–Whitney p-value, Hodges–Lehmann effect with interval, and the classification."""
        n_c, n_b = len(self.canary), len(self.baseline)
        kind = "ratio" if self.log else "shift"
        method = "Mann-Whitney U + Hodges-Lehmann (Kayenta)"
        if not self.ready:
            return Comparison("none", None, None, None, None, False, n_b, n_c, method, kind)
        c = np.asarray(self.canary)
        b = np.asarray(self.baseline)
        if self.log:
            c, b = np.log(c), np.log(b)
        p = float(mannwhitneyu(c, b, alternative="two-sided").pvalue)
        hl, lo, hi = hodges_lehmann(c, b, 1.0 - self.alpha)
        if self.log:
            effect, interval = math.exp(hl), (math.exp(lo), math.exp(hi))
            beyond_up, beyond_down = effect > 1.0 + self.tolerance, effect < 1.0 - self.tolerance
        else:
            band = self.tolerance * abs(float(np.median(b)))
            effect, interval = hl, (lo, hi)
            beyond_up, beyond_down = effect > band, effect < -band
        direction: Direction = "none"
        if p < self.alpha and beyond_up:
            direction = "higher"
        elif p < self.alpha and beyond_down:
            direction = "lower"
        return Comparison(direction, effect, interval, p, None, True, n_b, n_c, method, kind)

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state (the two windows as lists)."""
        return {
            **header(self),
            "window": self.window,
            "alpha": self.alpha,
            "tolerance": self.tolerance,
            "log": self.log,
            "min_samples": self.min_samples,
            "canary": list(self.canary),
            "baseline": list(self.baseline),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild from :meth:`state_dict` output."""
        check_state(cls, state)
        obj = cls(
            window=state["window"],
            alpha=state["alpha"],
            tolerance=state["tolerance"],
            log=state["log"],
            min_samples=state["min_samples"],
        )
        obj.canary.extend(float(x) for x in state["canary"])
        obj.baseline.extend(float(x) for x in state["baseline"])
        return obj
