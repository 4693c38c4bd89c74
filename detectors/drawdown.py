"""Cumulative sum and drawdown from peak, for P&L kill-switch rules."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Self

from detectors._common import check_state, header


class Drawdown:
    """Running total of increments (e.g. realised P&L per order), its peak and drawdown.

    Parameters
    ----------
    cumulative
        If True, ``update`` receives the running total itself instead of increments.
    initial
        Starting total (e.g. 0 P&L at the start of the stage).

    Attributes
    ----------
    total, peak, drawdown, max_drawdown
        Current total, highest total so far, ``peak - total`` now, and the worst seen.

    Examples
    --------
    >>> from detectors import Drawdown
    >>> dd = Drawdown()
    >>> for ts, pnl in enumerate([5.0, 3.0, -6.0, 1.0, -4.0, 10.0]):
    ...     dd.update(pnl, ts=float(ts))
    >>> dd.total, dd.peak, dd.drawdown, dd.max_drawdown
    (9.0, 9.0, 0.0, 9.0)
    >>> dd.max_drawdown_fraction
    1.125
    """

    def __init__(self, cumulative: bool = False, initial: float = 0.0) -> None:
        self.cumulative = bool(cumulative)
        self.initial = float(initial)
        self.n = 0
        self.total = self.initial
        self.peak = self.initial
        self.max_drawdown = 0.0
        self.max_drawdown_fraction = 0.0
        self.peak_ts: float | None = None
        self.last_ts: float | None = None

    @property
    def ready(self) -> bool:
        """True after the first update (a drawdown needs no warm-up)."""
        return self.n > 0

    @property
    def drawdown(self) -> float:
        """``peak - total`` (>= 0)."""
        return self.peak - self.total

    @property
    def drawdown_fraction(self) -> float | None:
        """Drawdown relative to a positive peak; None while the peak is <= 0."""
        return self.drawdown / self.peak if self.peak > 0 else None

    def update(self, value: float, ts: float = 0.0) -> None:
        """Add an increment (or set the total if ``cumulative``) at event time ``ts``."""
        if not math.isfinite(value):  # bad input is not data: ignore it
            return
        self.n += 1
        self.total = value if self.cumulative else self.total + value
        self.last_ts = ts
        if self.total > self.peak or (self.peak_ts is None and self.total == self.peak):
            self.peak = self.total
            self.peak_ts = ts
        dd = self.peak - self.total
        self.max_drawdown = max(self.max_drawdown, dd)
        if self.peak > 0 and dd / self.peak > self.max_drawdown_fraction:
            self.max_drawdown_fraction = dd / self.peak

    def get(self) -> float | None:
        """Current drawdown, or None before the first update."""
        return self.drawdown if self.ready else None

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            **header(self),
            "cumulative": self.cumulative,
            "initial": self.initial,
            "n": self.n,
            "total": self.total,
            "peak": self.peak,
            "max_drawdown": self.max_drawdown,
            "max_drawdown_fraction": self.max_drawdown_fraction,
            "peak_ts": self.peak_ts,
            "last_ts": self.last_ts,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild from :meth:`state_dict` output."""
        check_state(cls, state)
        obj = cls(cumulative=state["cumulative"], initial=state["initial"])
        obj.n = int(state["n"])
        obj.total = float(state["total"])
        obj.peak = float(state["peak"])
        obj.max_drawdown = float(state["max_drawdown"])
        obj.max_drawdown_fraction = float(state["max_drawdown_fraction"])
        obj.peak_ts = state["peak_ts"]
        obj.last_ts = state["last_ts"]
        return obj
