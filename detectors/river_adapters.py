"""river models behind our protocol, where they fit.

river's ``drift.PageHinkley`` (Page 1954; Mouss et al. 2004) is pure Python and small, so it is
wrapped as-is for rule authors who want river's behaviour; its state is read from, and written
back to, the model's own attributes. A river upgrade that renames them fails the contract suite's
round-trip test rather than silently losing state. Other river models were measured and not
wrapped: ``stats.EWMean`` / ``EWVar`` decay per event, not per second (see
:mod:`detectors.ewstats`); ``stats.Quantile`` (P²) has no error bound to state (see
:mod:`detectors.quantiles`); ``anomaly.HalfSpaceTrees`` costs ~21 µs per event and scored poorly
on univariate operational metrics; ``drift.ADWIN`` is compiled and exposes no state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Self

from river import drift

from detectors._common import check_state, header

_SCALARS = ("_drift_detected", "_sum_increase", "_sum_decrease", "_min_increase", "_max_decrease")


class RiverPageHinkley:
    """river's Page–Hinkley change detector with JSON-able state.

    Parameters
    ----------
    min_instances, delta, threshold, alpha, mode
        Passed to ``river.drift.PageHinkley`` unchanged (see its documentation).

    Examples
    --------
    >>> from detectors import RiverPageHinkley
    >>> ph = RiverPageHinkley(threshold=20.0)
    >>> alarms = []
    >>> for i in range(300):
    ...     ph.update(0.0 if i < 150 else 5.0, ts=float(i))
    ...     if ph.drift_detected:
    ...         alarms.append(i)
    >>> alarms[:1]
    [154]
    """

    def __init__(
        self,
        min_instances: int = 30,
        delta: float = 0.005,
        threshold: float = 50.0,
        alpha: float = 1 - 1e-4,
        mode: str = "both",
    ) -> None:
        self.params: dict[str, Any] = {
            "min_instances": int(min_instances),
            "delta": float(delta),
            "threshold": float(threshold),
            "alpha": float(alpha),
            "mode": mode,
        }
        self.model = drift.PageHinkley(**self.params)
        self.n = 0

    @property
    def ready(self) -> bool:
        """True once ``min_instances`` values were seen (river raises no alarm before)."""
        return self.n >= int(self.params["min_instances"])

    @property
    def drift_detected(self) -> bool:
        """True on the update that detected a change."""
        return bool(self.model.drift_detected)

    def update(self, value: float, ts: float = 0.0) -> None:
        """Add one value (per event; ``ts`` kept for the common protocol)."""
        if not math.isfinite(value):  # bad input is not data: ignore it
            return
        self.n += 1
        self.model.update(value)  # type: ignore[no-untyped-call]  # river ships no annotations

    def get(self) -> float | None:
        """Current Page–Hinkley statistic (largest of both directions), None before warm-up."""
        if not self.ready:
            return None
        m = self.model
        return float(max(m._sum_increase - m._min_increase, m._max_decrease - m._sum_decrease))

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state: parameters and the model's running sums."""
        m = self.model
        return {
            **header(self),
            "params": dict(self.params),
            "n": self.n,
            "mean_n": float(m._x_mean.n),
            "mean": float(m._x_mean._mean),
            **{k: getattr(m, k) for k in _SCALARS},
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild from :meth:`state_dict` output."""
        check_state(cls, state)
        obj = cls(**state["params"])
        obj.n = int(state["n"])
        m = obj.model
        m._x_mean.n = float(state["mean_n"])
        m._x_mean._mean = float(state["mean"])
        for k in _SCALARS:
            setattr(m, k, state[k])
        return obj
