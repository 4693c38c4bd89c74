"""The apply agent's work: repartition records → core → signed commands, state into the table.

Every record of the repartition topic is keyed by one rollout and holds that rollout's
envelopes (``monitor.worker.envelope``: the native worker's format, decoded and validated by
the same :func:`~monitor.worker.take.take_record`, with the same dead letters). Events are
applied in record order per partition, one ``core.process`` call per partition and batch.

Exactly-once effects over at-least-once delivery. faust redelivers whatever was not
committed when a worker died or lost its partitions. So:

1. input is committed (:meth:`Applier.checkpoint`, by the adapter: faust's acks are off for
   its topics) only after (a) every command and dead letter it caused was acked by the
   broker, and then (b) every rollout it changed has its state in the table's changelog,
   acked. The committed offset therefore never passes input whose effects could be lost;
2. a redelivered record is recognised from the rollout's saved marks (``next``, ``hwm`` in
   :class:`~monitor.faust.state.Saved`) and skipped, so no event is applied twice to the
   restored state;
3. whatever was applied after the last checkpoint is applied again to the state of that
   checkpoint: the core is deterministic, so the commands it makes again have the ids and
   contents they had (orchestrators drop the repeats), and the ones that never reached the
   broker are sent now.

A rollout is loaded from the table when its partition is assigned (faust restores the table
before it resumes the partition's stream, see ``StateTable``) and forgotten when it is
revoked, after a last checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.core.api import CoreProtocol
from monitor.edge.clients import Sender
from monitor.faust.state import STATE_VERSION, Saved, StateTable, decode_saved, encode_saved
from monitor.status.publisher import StatusPublisher
from monitor.worker.applied import (
    Applied,
    decision_acked,
    rollout_limit_letter,
    send_set_aside,
)
from monitor.worker.checkpoint import pack_state, unpack_state
from monitor.worker.health import StageProgress
from monitor.worker.metrics import WorkerMetrics
from monitor.worker.publisher import Publisher
from monitor.worker.silence import SilenceWatch
from monitor.worker.take import Refusal, Taken, take_record
from topics.codec import Decoder
from topics.commands import Command
from topics.deadletters import DeadLetter, DlqReason, encode_dead_letter
from topics.events import Event

log = logging.getLogger(__name__)

FLUSH_EVERY_S = 0.1  # acks of commands are awaited this often, as the native processor does


@dataclass
class Marks:
    """Where a rollout's state stands in the repartition topic and in the telemetry."""

    next: int = 0
    hwm: dict[int, int] = field(default_factory=dict)
    seen: dict[str, float] = field(default_factory=dict)
    """variant -> event time of its last event (silence after a takeover)."""


@dataclass
class Applier:
    core: CoreProtocol
    table: StateTable
    publisher: Publisher[Sender]
    metrics: WorkerMetrics
    silence: SilenceWatch
    partition_of: Callable[[str], int]
    """The repartition topic's partition of a rollout (the producer's partitioner)."""
    topic: str
    """The repartition topic."""
    dlq_topic: str
    source_topic: str
    decoder: Decoder = field(default_factory=Decoder)
    reject_clock_skew: bool = False
    max_rollouts: int = 1000
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    marks: dict[str, Marks] = field(default_factory=dict)
    """Rollouts held (loaded or met), in owned partitions."""
    owned: set[int] = field(default_factory=set)
    """Partitions of the repartition topic assigned here (set once their state is loaded)."""
    progress: StageProgress = field(default_factory=lambda: StageProgress("apply", 0.0))
    applied: int = 0
    positions: dict[Any, int] = field(default_factory=dict)
    """Next offset of each partition read (lag)."""
    last_written_s: float = field(default_factory=time.monotonic)
    """When every change applied so far was last in the table (the checkpoint age)."""
    commit: Callable[[Sequence[Any]], Awaitable[Any]] | None = None
    """Commits the offsets after these faust events (the adapter's own commit, see
    :mod:`monitor.faust`); set when the agent starts."""
    on_published: Callable[[Command], None] | None = None
    status: StatusPublisher | None = None
    """Publishes the held rollouts' status to the fleet's status topic (as the native
    processor does): every worker, faust or native, answers for every rollout from it."""
    _held: list[Any] = field(default_factory=list)
    """Events applied and not committed yet: committed by the next checkpoint."""
    _changed: set[str] = field(default_factory=set)
    _stale: set[str] = field(default_factory=set)
    """Rollouts whose core state changed since it was last packed."""
    _packed: dict[str, bytes | None] = field(default_factory=dict)
    _checkpointing: asyncio.Lock = field(default_factory=asyncio.Lock)
    _flushing: asyncio.Task[bool] | None = None
    _last_flush_s: float = 0.0

    # --- applying ------------------------------------------------------------------------

    async def apply(self, events: Sequence[Any]) -> None:
        """Apply a batch of faust events of the repartition topic (any partitions)."""
        started = time.perf_counter()
        now = time.time() if self.reject_clock_skew else None  # edge: clock-skew check only
        by_partition: dict[int, list[Any]] = {}
        for event in events:
            by_partition.setdefault(event.message.partition, []).append(event)
        async with self.lock:
            for q, group in by_partition.items():
                if q not in self.owned:  # delivered just before a rebalance took it away
                    continue  # not committed: faust delivers it again to the next owner
                applied = Applied()
                for event in group:
                    self._held.append(event)
                    self.positions[event.message.tp] = event.message.offset + 1
                    takens = await self._take(event.message, now)
                    for taken in takens:
                        await send_set_aside(
                            taken, event.message, self.publisher, self.metrics, self.dlq_topic
                        )
                        if taken.events:
                            applied.add(taken)
                    if any(taken.events for taken in takens):
                        applied.records.append(event.message)
                if applied.events:
                    await self._process(q, applied)
                self.progress.advanced(len(group), time.monotonic())
            self.metrics.messages.labels(self.topic).inc(len(events))
            self.metrics.processing.observe(time.perf_counter() - started)
            if time.monotonic() - self._last_flush_s >= FLUSH_EVERY_S:
                self._flush_soon()

    async def _take(self, message: Any, now: float | None) -> list[Taken]:
        """The envelopes of one record not applied before, with the rollout's marks moved
        past them; [] for a record applied before or one no rollguard ingest wrote."""
        key, value = message.key, message.value
        rid = key.decode(errors="replace") if isinstance(key, bytes) else None
        if rid is None or type(value) is not bytes:
            await self._dead(message, "invalid", "repartition record without a key or value")
            return []
        marks = self.marks.get(rid) or self._load(rid)
        if marks is not None and message.offset < marks.next:
            return []  # applied before this worker (or its predecessor) died
        hwm = {rid: dict(marks.hwm)} if marks is not None else {}
        takens = take_record(value, hwm, self.decoder, self.source_topic, now, "repartition record")
        if isinstance(takens, Refusal):
            await self._dead(message, *takens)
            return []
        if set(hwm) != {rid} or any(taken.rid != rid for taken in takens):
            await self._dead(message, "invalid", f"envelopes of other rollouts keyed {rid!r}")
            return []
        if marks is None:  # a new rollout, and this worker holds its maximum already
            refused = [event for taken in takens for event in taken.events]
            for taken in takens:
                taken.events = []  # its dead letters still go out
            if refused:
                await self._refuse(message, refused)
            return takens
        marks.hwm, marks.next = hwm[rid], message.offset + 1
        self._changed.add(rid)
        return takens

    async def _refuse(self, message: Any, events: list[Event]) -> None:
        self.metrics.dlq.labels("rollout_limit").inc(len(events))
        letter = rollout_limit_letter(
            events, 1, self.max_rollouts, message.topic, message.partition, message.offset
        )
        await self.publisher.send(self.dlq_topic, encode_dead_letter(letter), message.key)

    async def _process(self, q: int, applied: Applied) -> None:
        try:
            commands = self.core.process(applied.events)
        except Exception as exc:  # a core bug must not stop the app; the input is kept
            log.exception("core failed on %d events of partition %d", len(applied.events), q)
            self.metrics.loop_failures.labels("core", type(exc).__name__).inc()
            for message in applied.records:
                await self._dead(message, "internal_error", f"core error: {exc!r}")
            return
        self.applied += len(applied.events)
        self._stale |= applied.rollouts
        if self.status is not None:
            self.status.touch(applied.rollouts)
        arrived = time.monotonic()  # edge: silence only (no reading time: docs/faust.md)
        applied.note(self.metrics, self.silence, arrived, arrived)
        for (rollout_id, variant), ts in applied.newest.items():
            marks = self.marks.get(rollout_id)
            if marks is not None:
                marks.seen[variant] = ts
        for command in commands:
            acked = decision_acked(command, applied.kts, self.metrics, self.on_published)
            await self.publisher.send_command(command, acked)

    async def _dead(self, message: Any, reason: DlqReason, text: str) -> None:
        self.metrics.dlq.labels(reason).inc()
        dead = DeadLetter(
            reason=reason,
            message=text[:1024],
            original=message.value if type(message.value) is bytes else b"",
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
        )
        await self.publisher.send(self.dlq_topic, encode_dead_letter(dead), message.key)

    def _flush_soon(self) -> None:
        """Wait for command acks in a task of its own (metrics count a decision once acked)."""
        self._last_flush_s = time.monotonic()
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self.publisher.flush())

    async def _flush(self) -> bool:
        """Every command and dead letter queued so far acked (False: stopping)."""
        if self._flushing is not None:
            await self._flushing  # it holds records queued before ours
        return await self.publisher.flush()

    async def publish_status(self) -> None:
        """Send the held rollouts' changed views and this worker's heartbeat, after the
        flush that acked every command queued before them: the status topic never reports
        a decision the control topic does not have yet (``monitor.status.publisher``)."""
        if self.status is None:
            return
        async with self.lock:  # a view never shows half a batch
            self.status.collect(self.core, time.time())  # edge: status ages
            records = self.status.take()
        if not records or not await self._flush():
            return
        for key, value in records:
            await self.publisher.send(self.status.topic, value, key)

    # --- checkpoint, load, forget --------------------------------------------------------

    async def checkpoint(self) -> bool:
        """Write the changed rollouts' states, then commit the input they applied (False:
        nothing committed, as the app is stopping). Raises when the table's changelog refused
        an entry: the input stays uncommitted, faust delivers it again after the restart."""
        async with self._checkpointing:
            async with self.lock:  # a consistent cut: states, marks, and the input behind them
                held, self._held = self._held, []
                changed, self._changed = self._changed, set()
                self._write(changed)
            if not held and not changed:
                self.last_written_s = time.monotonic()
                return True
            flushed = await self._flush()  # commands first: a state never runs ahead of them
            if not flushed:
                return False
            await self.table.written()
            if self.commit is not None:
                await self.commit(held)
            self.metrics.checkpoints.inc()
            self.last_written_s = time.monotonic()
            return True

    def _write(self, changed: set[str]) -> None:
        known = set(self.core.rollouts())  # events of unbound rollouts leave no core state
        for rid in changed:
            marks = self.marks.get(rid)
            if marks is None:
                continue
            if rid in self._stale or rid not in self._packed:
                self._packed[rid] = (
                    pack_state(self.core.export_state(rid)) if rid in known else None
                )
                self._stale.discard(rid)
            saved = Saved(STATE_VERSION, marks.next, marks.hwm, self._packed[rid], marks.seen)
            self.table[rid.encode()] = encode_saved(saved)

    def _load(self, rid: str) -> Marks | None:
        """The rollout's marks, its state imported from the table (None: a new rollout
        while this worker holds ``max_rollouts``; it stays unknown)."""
        raw = self.table.get(rid.encode())
        if raw is None:
            if len(self.marks) >= self.max_rollouts:
                return None
            marks = self.marks[rid] = Marks()
            return marks
        try:
            saved = decode_saved(raw)
            self.core.forget(rid)
            if saved.state is not None:
                self.core.import_state(rid, unpack_state(saved.state))
        except Exception:  # not ours to fix here: start the rollout afresh, loudly
            log.exception("faust apply: saved state of %r unusable; it starts afresh", rid)
            self.metrics.checkpoints_unusable.labels("import").inc()
            self.core.forget(rid)
            marks = self.marks[rid] = Marks()
            return marks
        self._packed[rid] = saved.state
        marks = self.marks[rid] = Marks(saved.next, dict(saved.hwm), dict(saved.seen))
        arrived = time.monotonic()  # its variants' silence is judged from now on, here
        for variant, ts in saved.seen.items():
            self.silence.seen(rid, variant, ts, arrived)
        return marks

    async def on_assigned(self, partitions: set[int]) -> None:
        """The app's partitions are settled and the table restored: hold exactly the
        rollouts of ``partitions``, each loaded from the table before any record of it."""
        async with self.lock:
            for rid in [r for r in self.marks if self.partition_of(r) not in partitions]:
                self._forget(rid)
            self.owned = set(partitions)
            for key in list(self.table.keys()):
                rid = key.decode(errors="replace")
                if rid not in self.marks and self.partition_of(rid) in partitions:
                    self._load(rid)
            self.metrics.rebalances.inc()
            self.metrics.assigned_partitions.set(len(partitions))
        log.info(
            "faust apply: owns partitions %s (%d rollouts)", sorted(partitions), len(self.marks)
        )

    async def on_revoked(self) -> None:
        """A rebalance: a last checkpoint, then nothing is held until the next assignment."""
        await self.checkpoint()
        async with self.lock:
            for rid in list(self.marks):
                self._forget(rid)
            self.owned = set()

    def _forget(self, rid: str) -> None:
        self.marks.pop(rid, None)
        self._packed.pop(rid, None)
        self._stale.discard(rid)
        self._changed.discard(rid)
        self.core.forget(rid)
        self.silence.forget(rid)

    def tracked_rollouts(self) -> int:
        return len(self.marks)
