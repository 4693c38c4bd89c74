"""A rollout status table materialised from the status topic (a KTable, kept in memory).

Pure: records and the reader's wall clock come in as arguments, no I/O. Workers feed it from
an aiokafka reader, ``rollguard status`` and the operator commands from kafka-python.

Which record wins. Per rollout the table keeps the status with the newest *event time* (the
core's evaluation point), ties broken by publication time. A new owner replaying from an older
checkpoint publishes views that are behind what the previous owner already said (perhaps
before a rollback); those are kept out, so a verdict never moves backwards in event time.

What counts as current. A status is confirmed at its own publication and again by every
heartbeat of its owner that names its digest (:mod:`topics.status`). ``age_s`` is the time
since the last confirmation; past ``stale_after_s`` the status is *stale*: the routes answer
inconclusive, never pass. A dead owner's rollouts go stale within that bound, until the
next owner has restored them and published.

Every record is verified against the trusted key ring before it is used: signed by a worker
key that covers the rollouts it speaks for (forged, unsigned or out of its key's scope:
counted in ``rejected`` and dropped). ``keys=None`` reads without verifying (a human's screen
on a machine without the ring); such a table marks itself ``verified = False``.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Container
from dataclasses import dataclass, field
from typing import Final

from topics.keys import KeyRing
from topics.status import (
    HEARTBEAT_KEY_PREFIX,
    OwnerHeartbeat,
    RolloutStatus,
    RolloutView,
    read_status,
)

STALE_AFTER_S: Final = 5.0
"""Default bound: owners heartbeat every second, so five missed heartbeats."""


@dataclass(frozen=True)
class Known:
    """What the table knows about one rollout, as of ``now``."""

    view: RolloutView
    owner: str
    published_at: float
    age_s: float
    """Since the status was last confirmed by its owner (publication or heartbeat)."""
    stale: bool
    stale_reason: str = ""


@dataclass
class StatusTable:
    keys: KeyRing | None
    stale_after_s: float = STALE_AFTER_S
    rollouts: dict[str, RolloutStatus] = field(default_factory=dict)
    heartbeats: dict[str, OwnerHeartbeat] = field(default_factory=dict)
    rejected: Counter[str] = field(default_factory=Counter)
    """Records dropped, by reason: malformed, unsigned, unknown_key, bad_signature,
    not_authorized, behind."""
    applied: int = 0
    last_record_at: float | None = None
    """Reader's wall clock at the last record applied (None: nothing read yet)."""
    signed_here: Container[bytes] = ()
    """Records this process signed itself: their signatures are not checked again
    (:class:`~monitor.status.publisher.SignedHere`)."""

    @property
    def verified(self) -> bool:
        return self.keys is not None

    def apply(self, key: bytes | None, value: bytes | None, now: float) -> str:
        """Apply one record of the status topic; returns what happened to it."""
        if not value:  # a tombstone: the key's record is gone
            name = (key or b"").decode(errors="replace")
            if name.startswith(HEARTBEAT_KEY_PREFIX):
                self.heartbeats.pop(name[len(HEARTBEAT_KEY_PREFIX) :], None)
            else:
                self.rollouts.pop(name, None)
            return "tombstone"
        record, result = read_status(value, self.keys, signed_here=value in self.signed_here)
        if record is None:
            self.rejected[result] += 1
            return result
        self.last_record_at = now
        if isinstance(record, OwnerHeartbeat):
            known = self.heartbeats.get(record.owner)
            if known is None or record.published_at >= known.published_at:
                self.heartbeats[record.owner] = record
            self.applied += 1
            return "heartbeat"
        rid = record.view.rollout_id
        if key is not None and key != rid.encode():
            self.rejected["malformed"] += 1  # a record filed under another rollout's key
            return "malformed"
        held = self.rollouts.get(rid)
        if held is not None and _order(record) < _order(held):
            self.rejected["behind"] += 1
            return "behind"
        self.rollouts[rid] = record
        self.applied += 1
        return "rollout"

    def lookup(self, rollout_id: str, now: float) -> Known | None:
        record = self.rollouts.get(rollout_id)
        return None if record is None else self._known(record, now)

    def all(self, now: float) -> list[Known]:
        return [self._known(self.rollouts[rid], now) for rid in sorted(self.rollouts)]

    def suggest(self, rollout_id: str, n: int = 3) -> list[str]:
        """Known rollout ids close to a mistyped one (did you mean)."""
        return difflib.get_close_matches(rollout_id, list(self.rollouts), n=n, cutoff=0.6)

    def _known(self, record: RolloutStatus, now: float) -> Known:
        confirmed = record.published_at
        heartbeat = self.heartbeats.get(record.owner)
        listed = heartbeat is not None and heartbeat.rollouts.get(record.view.rollout_id)
        if heartbeat is not None and listed == record.digest:
            confirmed = max(confirmed, heartbeat.published_at)
        age = max(0.0, now - confirmed)
        stale = age > self.stale_after_s
        reason = ""
        if stale:
            if heartbeat is None or now - heartbeat.published_at > self.stale_after_s:
                silent = "never heard" if heartbeat is None else f"silent for {age:.0f} s"
                reason = f"owner {record.owner} {silent}"
            else:
                reason = f"owner {record.owner} no longer reports it (moving to another worker?)"
        return Known(record.view, record.owner, record.published_at, age, stale, reason)


def _order(record: RolloutStatus) -> tuple[float, float]:
    return (record.view.event_time, record.published_at)
