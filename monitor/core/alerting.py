"""Prometheus's alerting state machine (``rules/alerting.go``), on event time.

``inactive → pending → firing``; back to ``inactive`` (with ``resolved_at``) when the
condition clears, unless ``keep_firing_for`` holds a firing alert on. A pending alert whose
condition clears is dropped (inactive, never resolved). With ``for = 0`` an alert fires at
the first evaluation that sees the condition. Time and the condition are arguments of
:meth:`AlertState.step`, so the same machine runs per event and at a fixed interval. Times
are integers (the core's microseconds, :mod:`monitor.core.timebase`): ``ts - active_at >=
for`` is exact, as Prometheus' integer milliseconds are.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

from monitor.core.timebase import Micros

AlertStateName = Literal["inactive", "pending", "firing"]
INACTIVE: Final = "inactive"
PENDING: Final = "pending"
FIRING: Final = "firing"


class AlertSnapshot(msgspec.Struct, array_like=True):
    """An :class:`AlertState` in a checkpoint."""

    state: AlertStateName
    active_at: Micros | None
    fired_at: Micros | None
    resolved_at: Micros | None
    keep_firing_since: Micros | None


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
        self.state: AlertStateName = INACTIVE
        self.active_at: Micros | None = None
        self.fired_at: Micros | None = None
        self.resolved_at: Micros | None = None
        self.keep_firing_since: Micros | None = None

    def step(
        self, ts: Micros, active: bool, *, for_s: Micros, keep_firing_for_s: Micros
    ) -> AlertStateName:
        """Evaluate at event time ``ts`` with the condition ``active``; return the new state.

        ``for_s`` / ``keep_firing_for_s``: durations in the same unit as ``ts``."""
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
        self.state = INACTIVE
        self.active_at = self.fired_at = self.resolved_at = self.keep_firing_since = None

    def snapshot(self) -> AlertSnapshot:
        return AlertSnapshot(
            self.state, self.active_at, self.fired_at, self.resolved_at, self.keep_firing_since
        )

    @classmethod
    def restore(cls, snap: AlertSnapshot) -> AlertState:
        a = cls()
        a.state, a.active_at, a.fired_at = snap.state, snap.active_at, snap.fired_at
        a.resolved_at, a.keep_firing_since = snap.resolved_at, snap.keep_firing_since
        return a
