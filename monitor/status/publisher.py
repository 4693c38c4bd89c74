"""The owner's side of the status topic: publish each owned rollout's view when it changes,
and a heartbeat naming what this worker owns.

Called from the processor's loop (under its lock, so a view never shows half a round):
:meth:`StatusPublisher.touch` marks rollouts that received events, :meth:`collect` (at most
every ``collect_every_s``) turns them into signed records, and the processor sends them
after the flush that acked every command queued before them (:meth:`take`), so the status
topic never reports a decision the control topic does not have yet.

A view is re-published when its *state* changes (stage, status, verdict, a rule's state, a
decision, a sign-off, the kinds of promotion gaps) and otherwise at most every ``refresh_s``
with fresh values while events arrive; rule values in between are up to ``refresh_s`` old.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from monitor.core.api import CoreProtocol
from topics.keys import SigningKey
from topics.status import (
    OwnerHeartbeat,
    RolloutStatus,
    RolloutView,
    heartbeat_key,
    sign_status,
    view_digest,
)

HEARTBEAT_S: Final = 1.0
REFRESH_S: Final = 5.0
COLLECT_EVERY_S: Final = 0.25
_NUMBER = re.compile(r"\d+(\.\d+)?")


def rollout_view(core: CoreProtocol, rollout_id: str) -> RolloutView | None:
    """The core's view as a :class:`RolloutView` (the product core builds one directly;
    other cores' ``view()`` dicts are converted, unknown keys ignored)."""
    typed = getattr(core, "rollout_view", None)
    if typed is not None:
        view: RolloutView | None = typed(rollout_id)
        return view
    raw = core.view(rollout_id)
    return None if raw is None else msgspec.convert(raw, RolloutView, strict=False)


def fingerprint(view: RolloutView) -> tuple[Any, ...]:
    """What makes a view worth publishing at once (values and counters aside).

    >>> a = RolloutView(rollout_id="r", promotion_gaps=["dwell 10/900s"], event_time=1.0)
    >>> b = RolloutView(rollout_id="r", promotion_gaps=["dwell 11/900s"], event_time=2.0)
    >>> fingerprint(a) == fingerprint(b)
    True
    >>> fingerprint(a) == fingerprint(RolloutView(rollout_id="r", status="paused"))
    False
    """
    return (
        view.stage,
        view.status,
        view.verdict,
        view.traffic_pct,
        view.dry_run,
        tuple(sorted(view.rules.items())),
        tuple(view.signoffs),
        tuple(_NUMBER.sub("#", gap) for gap in view.promotion_gaps),
        tuple(d.command_id for d in view.last_decisions),
    )


@dataclass
class SignedHere:
    """Digests of the last records this worker signed. Its own follower reads them back
    from the status topic, and bytes it signed itself need no signature check: that check
    (Ed25519 over the RFC 8785 form of a ~8 kB view) cost ~1.5 ms a record, about as much
    as signing it, and with one worker every record read is its own. A 128-bit digest: no
    one can write other bytes that match one of ours."""

    keep: int = 4096
    _digests: dict[bytes, None] = field(default_factory=dict)

    def add(self, value: bytes) -> None:
        self._digests[_digest(value)] = None
        if len(self._digests) > self.keep:
            del self._digests[next(iter(self._digests))]  # the oldest

    def __contains__(self, value: object) -> bool:
        return type(value) is bytes and _digest(value) in self._digests


def _digest(value: bytes) -> bytes:
    return hashlib.blake2b(value, digest_size=16).digest()


@dataclass
class _Published:
    fingerprint: tuple[Any, ...]
    digest: str
    at: float


@dataclass
class StatusPublisher:
    topic: str
    owner: str
    key: SigningKey
    """The worker's signing key (its ring entry must cover the rollouts it owns)."""
    heartbeat_s: float = HEARTBEAT_S
    refresh_s: float = REFRESH_S
    collect_every_s: float = COLLECT_EVERY_S
    signed: SignedHere | None = None
    """Told every record queued (the worker's follower reads them back unverified)."""
    records: int = 0
    """Records queued so far (status and heartbeats), for metrics and benchmarks."""
    record_bytes: int = 0
    _published: dict[str, _Published] = field(default_factory=dict)
    _touched: set[str] = field(default_factory=set)
    _queued: list[tuple[bytes, bytes]] = field(default_factory=list)
    _last_collect: float = float("-inf")
    _last_heartbeat: float = float("-inf")

    def touch(self, rollout_ids: Iterable[str]) -> None:
        """These rollouts received events (or were restored): look at them next collect."""
        self._touched.update(rollout_ids)

    def collect(self, core: CoreProtocol, now: float, *, force: bool = False) -> None:
        """Queue the views that changed and, when due, a heartbeat (``now``: wall clock)."""
        if not force and now - self._last_collect < self.collect_every_s:
            return
        self._last_collect = now
        owned = set(core.rollouts())
        for rid in [r for r in self._published if r not in owned]:
            del self._published[rid]  # moved to another worker, which publishes it now
        due = (self._touched & owned) | (owned - self._published.keys())
        self._touched.clear()
        for rid in sorted(due):
            view = rollout_view(core, rid)
            if view is None:
                continue
            mark = fingerprint(view)
            last = self._published.get(rid)
            if last is not None and last.fingerprint == mark and now - last.at < self.refresh_s:
                self._touched.add(rid)  # fresh values go out once refresh_s has passed
                continue
            digest = view_digest(view)
            record = RolloutStatus(owner=self.owner, published_at=now, view=view, digest=digest)
            self._queue(rid.encode(), sign_status(record, self.key))
            self._published[rid] = _Published(mark, digest, now)
        if force or now - self._last_heartbeat >= self.heartbeat_s:
            self._last_heartbeat = now
            listed = {rid: p.digest for rid, p in sorted(self._published.items())}
            beat = OwnerHeartbeat(owner=self.owner, published_at=now, rollouts=listed)
            self._queue(heartbeat_key(self.owner), sign_status(beat, self.key))

    def take(self) -> list[tuple[bytes, bytes]]:
        """The records queued so far, to send once the commands before them are acked."""
        queued, self._queued = self._queued, []
        return queued

    def _queue(self, key: bytes, value: bytes) -> None:
        if self.signed is not None:
            self.signed.add(value)
        self._queued.append((key, value))
        self.records += 1
        self.record_bytes += len(value)
