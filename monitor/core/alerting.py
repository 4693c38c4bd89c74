"""Prometheus's alerting state machine (``rules/alerting.go``), on event time.

``inactive → pending → firing``; back to ``inactive`` (with ``resolved_at``) when the
condition clears, unless ``keep_firing_for`` holds a firing alert on. A pending alert whose
condition clears is dropped (inactive, never resolved). With ``for = 0`` an alert fires at
the first evaluation that sees the condition. Time and the condition are arguments of
:meth:`AlertState.step`, so the same machine runs per event and at a fixed interval.
"""

from __future__ import annotations

from typing import Any, Final

INACTIVE: Final = "inactive"
PENDING: Final = "pending"
FIRING: Final = "firing"


class AlertState:
    """One alert instance's state, stepped by :meth:`step` at each evaluation.

    Examples
    --------
    A breach from t=10 with ``for`` 5 s fires at exactly 15; ``keep_firing_for`` 3 s holds
    it through the recovery at 16 until 19:

    >>> a = AlertState()
    >>> trace = [(t, a.step(t, 10 <= t < 16, for_s=5, keep_firing_for_s=3)) for t in range(9, 21)]
    >>> [(t, s) for t, s in trace if s != "inactive"][0], [t for t, s in trace if s == "firing"]
    ((10, 'pending'), [15, 16, 17, 18])
    """

    __slots__ = ("active_at", "fired_at", "keep_firing_since", "resolved_at", "state")

    def __init__(self) -> None:
        self.state: str = INACTIVE
        self.active_at: float | None = None
        self.fired_at: float | None = None
        self.resolved_at: float | None = None
        self.keep_firing_since: float | None = None

    def step(self, ts: float, active: bool, *, for_s: float, keep_firing_for_s: float) -> str:
        """Evaluate at event time ``ts`` with the condition ``active``; return the new state."""
        if active:
            self.keep_firing_since = None
            if self.state == INACTIVE:
                self.state = PENDING
                self.active_at = ts
                self.fired_at = None
                self.resolved_at = None
        else:
            keep_firing = False
            if self.state == FIRING and keep_firing_for_s > 0:
                if self.keep_firing_since is None:
                    self.keep_firing_since = ts
                keep_firing = ts - self.keep_firing_since < keep_firing_for_s
            if not keep_firing:
                if self.state == FIRING:
                    self.resolved_at = ts
                if self.state != INACTIVE:
                    self.state = INACTIVE
                    self.active_at = None
                    self.keep_firing_since = None
                return self.state
        if self.state == PENDING and self.active_at is not None and ts - self.active_at >= for_s:
            self.state = FIRING
            self.fired_at = ts
        return self.state

    def reset(self) -> None:
        """Forget everything (a new stage starts with fresh alerts)."""
        self.__init__()  # type: ignore[misc]

    def to_state(self) -> list[Any]:
        return [self.state, self.active_at, self.fired_at, self.resolved_at, self.keep_firing_since]

    @classmethod
    def from_state(cls, state: list[Any]) -> AlertState:
        a = cls()
        a.state, a.active_at, a.fired_at, a.resolved_at, a.keep_firing_since = state
        return a
