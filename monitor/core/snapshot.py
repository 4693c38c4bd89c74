"""Typed state of a rollout's rules and policy, and the checkpoint format (version 2).

A checkpoint is :class:`RolloutSnapshot` as JSON-able builtins; decoding one validates every
field in one pass (``msgspec.convert``), so a damaged or foreign checkpoint is refused with
the field that is wrong instead of failing later. Times are the core's integer microseconds
(:mod:`monitor.core.timebase`). Version 1 (float seconds, rule states as positional lists,
policy as a free dict) is migrated on import by :mod:`monitor.core.migrate`.
"""

from __future__ import annotations

from typing import Final

import msgspec

from monitor.core.alerting import AlertSnapshot
from monitor.core.buckets import BucketState
from monitor.core.joins import JoinState, TrackerState
from monitor.core.scopes import ScopeState
from monitor.core.thresholds.base import Observation
from topics.commands import Action
from topics.events import Event

STATE_VERSION: Final = 2


class PolicyState(msgspec.Struct, kw_only=True):
    """What the decision policy remembers of its own decisions (per rollout)."""

    seq: int = 0
    """Sequence number of the next command (goes into its id)."""
    last_action: Action | None = None
    last_ts: int | None = None
    """Event time (µs) of the last action: its cooldown runs from here."""
    timebox_done: bool = False
    """This stage's time box already produced its inconclusive hold."""
    last_decisions: list[dict[str, object]] = msgspec.field(default_factory=list)
    """The last few commands as builtins (for views)."""


class RuleSnapshot(msgspec.Struct, kw_only=True):
    rule: str
    segment: str
    alert: AlertSnapshot
    memory: dict[str, object] | None
    """The threshold method's memory, in its own format (its ``restore`` reads it)."""
    advised: bool
    last: Observation | None


class RolloutSnapshot(msgspec.Struct, kw_only=True):
    """One rollout, everything that can influence a later decision (see ``state.py``)."""

    state_version: int
    rollout_id: str
    plan: str
    plan_version: str
    registered_at: float
    evaluated: int
    max_ts: int
    stage_idx: int
    stage_started_at: int
    traffic_pct: float | None
    status: str
    dry_run: bool
    signoffs: list[tuple[str, str]]
    counts: dict[str, int]
    n_events: int
    leaves: list[tuple[str, str, list[tuple[int, BucketState]]]]
    routes: list[tuple[str, str, list[tuple[str, str]]]]
    scopes: list[tuple[str, str, ScopeState]]
    pending: list[tuple[int, list[tuple[Event, str]]]]
    seen: list[tuple[int, list[list[object]]]]
    rules: list[RuleSnapshot]
    join: JoinState
    status_trackers: list[tuple[str, TrackerState]]
    mismatches: dict[str, list[str]]
    policy: PolicyState
