"""Anytime-valid test of a tail (p95 / p99) regression: canary exceedances of a baseline quantile.

A p99 regression that leaves the median alone is nearly invisible to tests of means or ranks.
Here the baseline's ``q``-quantile is fixed from a warm-up sample of baseline values, then every
later value of either variant above it is an "exceedance event" fed to a
:class:`SequentialCountTest`: if both variants share one distribution, each exceedance comes from
the canary with probability equal to its traffic share, whatever the threshold, so the test stays
valid checked after every event (the threshold is fixed before testing starts). A canary p99
that is 20% higher roughly doubles its rate of exceeding the baseline p99, which is what the test
reports as the rate ratio.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Self

from detectors._common import check_state, check_unit, check_variant, header
from detectors.result import Comparison
from detectors.sequential import SequentialCountTest


class QuantileExceedanceTest:
    """Sequential test that the canary exceeds the baseline's ``q``-quantile more often.

    Parameters
    ----------
    q
        Quantile of the baseline that defines the tail (0.99 for p99).
    warmup
        Baseline values used to fix the threshold (nothing is tested before).
    canary_share
        Fraction of traffic the canary receives (as in :class:`SequentialCountTest`).
    alpha, concentration, min_events
        Passed to the inner :class:`SequentialCountTest`.

    Examples
    --------
    >>> import random
    >>> from detectors import QuantileExceedanceTest
    >>> rng = random.Random(9)
    >>> test = QuantileExceedanceTest(q=0.99, warmup=1000)
    >>> for _ in range(1000):
    ...     test.update("baseline", rng.lognormvariate(3.0, 0.6))
    >>> for _ in range(8000):  # canary tail is heavier: p99 +20%, same median
    ...     test.update("baseline", rng.lognormvariate(3.0, 0.6))
    ...     test.update("canary", rng.lognormvariate(3.0, 0.68))
    >>> r = test.result()
    >>> r.direction, r.effect > 1.5
    ('higher', True)
    """

    def __init__(
        self,
        q: float = 0.99,
        warmup: int = 1000,
        canary_share: float = 0.5,
        alpha: float = 0.05,
        concentration: float = 20.0,
        min_events: int = 10,
    ) -> None:
        check_unit("q", q)
        if warmup < 10:
            raise ValueError(f"warmup must be >= 10, got {warmup!r}")
        self.q = float(q)
        self.warmup = int(warmup)
        self.test = SequentialCountTest(
            canary_share=canary_share,
            alpha=alpha,
            concentration=concentration,
            min_events=min_events,
        )
        self.threshold: float | None = None
        self.n_baseline = 0
        self.n_canary = 0
        self._sample: list[float] = []

    @property
    def ready(self) -> bool:
        """True once the threshold is fixed and the inner test has enough events."""
        return self.threshold is not None and self.test.ready

    @property
    def decision(self) -> str:
        """The inner test's sticky decision ("higher", "lower" or "none")."""
        return self.test.decision

    def update(self, variant: str, value: float) -> None:
        """Add one value of ``variant`` (canary values before the threshold is fixed are
        ignored: there is nothing to compare them with yet)."""
        if not math.isfinite(value):  # bad input is not data: ignore it
            return
        is_canary = check_variant(variant)
        if self.threshold is None:
            if not is_canary:
                self._sample.append(float(value))
                if len(self._sample) >= self.warmup:
                    ordered = sorted(self._sample)
                    self.threshold = ordered[int(self.q * (len(ordered) - 1))]
                    self._sample = []
            return
        if is_canary:
            self.n_canary += 1
        else:
            self.n_baseline += 1
        if value > self.threshold:
            self.test.update(variant, 1)

    def result(self) -> Comparison:
        """Direction and rate ratio of exceedances (canary / baseline, per unit of traffic)."""
        inner = self.test.result()
        return Comparison(
            direction=inner.direction if self.threshold is not None else "none",
            effect=inner.effect,
            interval=inner.interval,
            p_value=inner.p_value,
            e_value=inner.e_value,
            enough_data=self.ready,
            n_baseline=self.n_baseline,
            n_canary=self.n_canary,
            method=f"exceedance of baseline p{round(self.q * 100, 1):g} + " + inner.method,
            effect_kind="exceedance_rate_ratio",
        )

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            **header(self),
            "q": self.q,
            "warmup": self.warmup,
            "test": self.test.state_dict(),
            "threshold": self.threshold,
            "n_baseline": self.n_baseline,
            "n_canary": self.n_canary,
            "sample": list(self._sample),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild from :meth:`state_dict` output."""
        check_state(cls, state)
        inner = SequentialCountTest.from_state(state["test"])
        obj = cls(
            q=state["q"],
            warmup=state["warmup"],
            canary_share=inner.canary_share,
            alpha=inner.alpha,
            concentration=inner.concentration,
            min_events=inner.min_events,
        )
        obj.test = inner
        obj.threshold = None if state["threshold"] is None else float(state["threshold"])
        obj.n_baseline = int(state["n_baseline"])
        obj.n_canary = int(state["n_canary"])
        obj._sample = [float(x) for x in state["sample"]]
        return obj
