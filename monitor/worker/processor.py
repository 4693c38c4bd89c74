"""Processor: ``by_rollout`` envelopes → core → signed commands, with crash-safe state.

Order of work in one round (under ``lock``, so a rebalance never sees half a round):

1. for each owned partition, apply envelopes at or past its ``next_offset``: drop events
   already applied (source offset at or below the rollout's high-water mark — the repeats an
   ingest crash causes), validate the rest as they are decoded (bad ones to the DLQ, see
   :func:`~monitor.worker.take.take_record`), hand the good ones to ``core.process``, queue the
   resulting commands;
2. commands go out as they are made; every ``FLUSH_EVERY_S`` (and when idle) the loop waits
   until the broker acked all of them (:meth:`Publisher.flush`): only then do they count as
   published (metrics), and a send that failed is sent again, same bytes;
3. every ``checkpoint_interval_s``, and on revocation, checkpoint the changed partitions —
   always after a flush, so a checkpoint never claims an offset past an unacked decision.
   The loop checkpoints one partition at a time (the one due longest), packing its
   rollouts' states a few at a time between rounds (:mod:`monitor.worker.partition`):
   exporting every rollout of a worker at once stopped the loop for hundreds of
   milliseconds (36 busy rollouts of the product core), and every decision behind it waited.

Restore → seek → resume happens in one place, :meth:`Processor.on_assigned`. aiokafka
guarantees that every member runs ``on_partitions_revoked`` before any member runs
``on_partitions_assigned``, and that ``on_partitions_assigned`` runs before fetching resumes
(``aiokafka/abc.py``, ``ConsumerRebalanceListener``), so the checkpoint a leaving owner writes
on revocation is there when the next owner reads it.

A partition this worker keeps across a rebalance keeps its in-memory state: that state is
exactly "all events below ``next_offset`` applied", which is all a checkpoint is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import ConsumerRebalanceListener, TopicPartition

from monitor.core.api import CoreProtocol
from monitor.edge.clients import Batches, Consumer, Partition, Record, Sender
from monitor.status.publisher import StatusPublisher
from monitor.worker.applied import (
    Applied,
    decision_acked,
    rollout_limit_letter,
    send_set_aside,
)
from monitor.worker.checkpoint import Checkpoint, CheckpointStore
from monitor.worker.envelope import SELF_SOURCE, encode_envelope
from monitor.worker.fetch import fetch_round
from monitor.worker.health import StageProgress
from monitor.worker.metrics import WorkerMetrics
from monitor.worker.partition import (
    PartitionState,
    checkpoint_of,
    pack_some,
    restore,
    snapshot,
)
from monitor.worker.publisher import Publisher
from monitor.worker.silence import SilenceWatch
from monitor.worker.take import Refusal, Taken, take_record
from topics.codec import Decoder, encode_event
from topics.commands import Command
from topics.deadletters import DeadLetter, DlqReason, encode_dead_letter
from topics.events import Event

log = logging.getLogger(__name__)

FLUSH_EVERY_S = 0.1  # acks are awaited this often (and before every checkpoint), not per round
PACK_BUDGET_S = 0.005
"""CPU a loop pass spends packing rollout states for a checkpoint (at least one rollout):
see :mod:`monitor.worker.partition`."""
SLICE_EVENTS = 2000
"""A round hands the core at most about this many events at a time, and lets the loop's
other tasks run in between: a backlog's round (500 records of up to ~1,000 events each) was
one call of seconds with the product core, long enough for the group to drop the worker
(its heartbeats wait for the loop) and for every decision behind it to wait as long."""
MAX_ROLLOUTS = 1000
"""Rollouts one worker tracks at most (``--max-rollouts``); see :meth:`Processor.admit`."""


@dataclass
class Processor:
    consumer: Consumer  # of the apply group (subscribe via :meth:`subscribe`)
    core: CoreProtocol
    publisher: Publisher[Sender]
    checkpoints: CheckpointStore
    metrics: WorkerMetrics
    topic: str
    dlq_topic: str
    silence: SilenceWatch
    source_topic: str = ""
    """The telemetry topic, named in the dead letters of events found bad here."""
    decoder: Decoder = field(default_factory=Decoder)
    reject_clock_skew: bool = False
    checkpoint_interval_s: float = 5.0
    max_records: int = 500
    max_rollouts: int = MAX_ROLLOUTS
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    owned: dict[int, PartitionState] = field(default_factory=dict)
    stopping: bool = False
    progress: StageProgress = field(
        default_factory=lambda: StageProgress("processor", time.monotonic())
    )
    """Records applied, input waiting: what ``/healthz`` judges."""
    on_published: Callable[[Command], None] | None = None
    """Called once the broker acked a command (e.g. a Grafana annotation)."""
    reading_time: Callable[[], float] = time.monotonic
    """The clock silences are measured in (``ReadingWatch.reading_time``: outages left out)."""
    applied: int = 0
    """Events handed to the core so far (``/healthz``: progress, without a metrics render)."""
    status: StatusPublisher | None = None
    """Publishes the owned rollouts' status (sent after the flush that acks their commands)."""
    _unsafe: bool = False  # a round stopped before its commands were acked: never checkpoint
    _last_flush_s: float = field(default_factory=time.monotonic)
    _flushing: asyncio.Task[None] | None = None
    _checkpointing: asyncio.Task[None] | None = None
    _making: int | None = None
    """The partition whose checkpoint is being packed."""

    def subscribe(self) -> None:
        self.consumer.subscribe([self.topic], listener=_Listener(self))

    # --- the loop ---------------------------------------------------------------------

    async def run(self) -> None:
        while not self.stopping:
            batches = await fetch_round(self.consumer, self.max_records, "processor")
            if batches is None:
                continue
            self.progress.turned(time.monotonic())
            async with self.lock:
                if batches:
                    await self.round(batches)
                if not batches or time.monotonic() - self._last_flush_s >= FLUSH_EVERY_S:
                    self._flush_soon()
                self._checkpoint_step(time.monotonic())
                if self.status is not None:
                    self.status.collect(self.core, time.time())  # edge: status ages
            self.metrics.checkpoint_age.set(self.checkpoint_age(time.monotonic()))

    async def round(self, batches: Batches) -> None:
        """Apply a fetched batch: per partition, ``core.process`` calls over the fresh
        events of its envelopes, in slices of about ``SLICE_EVENTS`` (the core decides the
        same whatever the call sizes); each slice's commands go out before the next."""
        started = time.perf_counter()
        now = time.time() if self.reject_clock_skew else None  # edge: clock-skew check only
        for tp, records in batches.items():
            state = self.owned.get(tp.partition)
            if state is None:  # fetched just before a rebalance took it away
                continue
            applied = Applied()
            handled = 0
            for record in records:
                if record.offset < state.next_offset:  # already applied (fetched before a seek)
                    continue
                handled += 1
                tracked = len(state.hwm)
                takens = await self._take(tp, record, state, now)
                if len(state.hwm) > tracked:  # rollouts met for the first time
                    takens = await self.admit(tp, record, state, tracked, takens)
                if state.resume:  # restored: events its rollout's state holds already
                    for taken in takens:
                        if state.skipped(taken.rid, record.offset):
                            taken.events, taken.dead = [], []
                for taken in takens:
                    await send_set_aside(
                        taken, record, self.publisher, self.metrics, self.dlq_topic
                    )
                    if taken.events:
                        applied.add(taken)
                if any(taken.events for taken in takens):
                    applied.records.append(record)
                state.next_offset = record.offset + 1
                state.dirty = True
                if len(applied.events) >= SLICE_EVENTS:
                    await self._process(tp, state, applied)
                    applied = Applied()
                    await asyncio.sleep(0)  # the ingest, heartbeats and sends run meanwhile
            if applied.events:
                await self._process(tp, state, applied)
            self.progress.advanced(handled, time.monotonic())
            highwater = self.consumer.highwater(tp)
            if highwater is not None:
                state.lag = max(0, highwater - state.next_offset)
                self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(state.lag)
        self.progress.lag = sum(state.lag for state in self.owned.values())
        self.metrics.messages.labels(self.topic).inc(sum(len(r) for r in batches.values()))
        self.metrics.processing.observe(time.perf_counter() - started)

    async def _take(
        self, tp: Partition, record: Record, state: PartitionState, now: float | None
    ) -> list[Taken]:
        """The envelopes of one ``by_rollout`` record (:func:`take_record`): the boundary
        of one message, whatever it holds."""
        taken = take_record(
            record.value, state.hwm, self.decoder, self.source_topic, now, "by_rollout record"
        )
        if isinstance(taken, Refusal):
            await self._dead(tp, record, *taken)
            return []
        return taken

    def tracked_rollouts(self) -> int:
        """Rollouts whose events this worker applies (their marks, in its partitions)."""
        return sum(len(state.hwm) for state in self.owned.values())

    async def admit(
        self, tp: Partition, record: Record, state: PartitionState, known: int, takens: list[Taken]
    ) -> list[Taken]:
        """Keep a record's new rollouts (those after the first ``known`` of ``state.hwm``)
        while the worker tracks at most ``max_rollouts``; the events of the others go to the
        DLQ (``rollout_limit``, as one batch message that can be sent again) and they stay
        unknown, so their later events are judged again. Bounds the core's state, the
        silence watch and the per-rollout metrics, whatever rollout ids producers invent."""
        new = list(state.hwm)[known:]
        room = self.max_rollouts - (self.tracked_rollouts() - len(new))
        refused = set(new[max(0, room) :])
        if not refused:
            return takens
        for rid in refused:
            del state.hwm[rid]
        events: list[Event] = []
        for taken in takens:
            if taken.rid in refused:
                events += taken.events
                taken.events = []  # its dead letters, if any, still go out
        if events:
            self.metrics.dlq.labels("rollout_limit").inc(len(events))
            letter = rollout_limit_letter(
                events, len(refused), self.max_rollouts, tp.topic, tp.partition, record.offset
            )
            await self.publisher.send(self.dlq_topic, encode_dead_letter(letter), record.key)
        return takens

    async def flush(self) -> bool:
        """Wait for the broker to ack every queued command (they went out when queued)."""
        if self._flushing is not None:  # what it holds was queued before ours
            await self._flushing
        self._last_flush_s = time.monotonic()
        status = self.status.take() if self.status is not None else []
        if not await self.publisher.flush():
            self._unsafe = True
        await self._send_status(status)
        return not self._unsafe

    def _flush_soon(self) -> None:
        """:meth:`flush` in a task of its own: waiting for acks is a broker round trip the
        next envelopes need not wait for (measured: 40-60 ms a time on a busy broker)."""
        if self._flushing is not None and not self._flushing.done():
            return
        self._last_flush_s = time.monotonic()
        self._flushing = asyncio.create_task(self._flush_once())

    async def _flush_once(self) -> None:
        status = self.status.take() if self.status is not None else []
        if not await self.publisher.flush():
            self._unsafe = True
        await self._send_status(status)

    async def _send_status(self, records: list[tuple[bytes, bytes]]) -> None:
        """Status records go out only after the flush that acked every command queued
        before they were taken: the status topic never runs ahead of the control topic."""
        if self._unsafe or self.status is None:
            return
        for key, value in records:
            await self.publisher.send(self.status.topic, value, key)

    async def _process(self, tp: Partition, state: PartitionState, applied: Applied) -> None:
        try:
            commands = self.core.process(applied.events)
        except Exception as exc:  # a core bug must not stop the fleet; the input is kept
            log.exception("core failed on %d events at %s", len(applied.events), tp)
            self.metrics.loop_failures.labels("core", type(exc).__name__).inc()
            for record in applied.records:
                await self._dead(tp, record, "internal_error", f"core error: {exc!r}")
            return
        self.applied += len(applied.events)
        state.changed |= applied.rollouts
        if self.status is not None:
            self.status.touch(applied.rollouts)
        arrived, read_at = time.monotonic(), self.reading_time()  # edge: silence only
        applied.note(self.metrics, self.silence, arrived, read_at)
        for command in commands:
            acked = decision_acked(command, applied.kts, self.metrics, self.on_published)
            await self.publisher.send_command(command, acked)

    async def _dead(self, tp: Partition, record: Record, reason: DlqReason, message: str) -> None:
        self.metrics.dlq.labels(reason).inc()
        dead = DeadLetter(
            reason=reason,
            message=message[:1024],
            original=record.value or b"",
            topic=tp.topic,
            partition=tp.partition,
            offset=record.offset,
        )
        await self.publisher.send(self.dlq_topic, encode_dead_letter(dead), record.key)

    # --- silence -----------------------------------------------------------------------

    async def watch_silence(self, every_s: float, proven: Callable[[], float | None]) -> None:
        """Write a Silence event to ``by_rollout`` for each variant gone quiet over input
        ``proven`` complete (:mod:`monitor.worker.reading`); the loop's flush acks them.
        Sent outside the lock: a send can wait for room in the producer's queue (up to
        its request timeout), and rounds and rebalances must not wait with it."""
        while not self.stopping:
            await asyncio.sleep(every_s)
            async with self.lock:
                due = self.silence.due(proven(), time.monotonic())
            for event in due:
                envelope = encode_envelope(
                    SELF_SOURCE, [0], [encode_event(event)], 0, event.rollout_id
                )
                # keyed: the producer picks the partition the ingest sends this rollout to
                await self.publisher.send(self.topic, envelope, event.rollout_id.encode())
                self.metrics.silences.labels(event.rollout_id, event.variant).inc()

    # --- checkpoint, restore, rebalance --------------------------------------------------

    async def checkpoint(self, partitions: list[int], *, all_: bool = False) -> None:
        """Write checkpoints of changed (or, with ``all_``, all) owned partitions, after
        every command queued so far is acked: a checkpoint never runs ahead of a decision.
        Waits for the checkpoint in flight first (revocation, stop)."""
        if self._checkpointing is not None:
            await self._checkpointing
        self._making = None  # packed now, whole
        taken = time.monotonic()
        await self._write(self._snapshot(partitions, all_, taken), taken)

    def _due(self, now: float) -> int | None:
        """The changed partition whose last checkpoint is the oldest, if that is at least
        ``checkpoint_interval_s`` old."""
        due = [
            (state.taken_s, q)
            for q, state in self.owned.items()
            if state.dirty and now - state.taken_s >= self.checkpoint_interval_s
        ]
        return min(due)[1] if due else None

    def checkpoint_age(self, now: float) -> float:
        """Seconds of applied input a restart would apply again: since the state of the
        oldest acked checkpoint of a partition changed after it was taken (0: none did)."""
        return max((now - s.written_s for s in self.owned.values() if s.dirty), default=0.0)

    def _checkpoint_step(self, now: float) -> None:
        """Pack a slice of the checkpoint being made (``PACK_BUDGET_S``), or begin the one
        due; once all is packed, write it in a task of its own: the acks it waits for
        (commands, then the checkpoint, then the offsets) are broker round trips the next
        envelopes need not wait for. One at a time; the partitions stay due meanwhile."""
        if self._checkpointing is not None and not self._checkpointing.done():
            return
        q = self._making
        if q is None or q not in self.owned:
            q = self._making = self._due(now)
            if q is None:
                return
            state = self.owned[q]
            state.cycle, state.taken_s = state.next_offset, now
        state = self.owned[q]
        try:
            done = pack_some(self.core, state, PACK_BUDGET_S)
        except Exception:  # keep the older checkpoint rather than write a wrong one
            log.exception("processor: state of partition %d not exportable", q)
            done = False
            state.cycle = self._making = None
        if done:
            checkpoint = checkpoint_of(q, state)
            state.cycle = self._making = None
            self._checkpointing = asyncio.create_task(self._write([checkpoint], state.taken_s))

    def _snapshot(self, partitions: list[int], all_: bool, taken: float) -> list[Checkpoint]:
        """Checkpoints of the partitions as they are now (the states packed now)."""
        for q in partitions:
            if q in self.owned:
                self.owned[q].taken_s = taken
        return snapshot(self.core, self.owned, partitions, all_)

    async def _write(self, snapshot: list[Checkpoint], taken: float) -> None:
        """Write the checkpoints (taken at ``taken``) once every command queued before
        them is acked."""
        if not await self.flush():
            return
        offsets: dict[Partition, int] = {}
        for checkpoint in snapshot:
            if await self.checkpoints.write(checkpoint):
                self.metrics.checkpoints.inc()
                offsets[TopicPartition(self.topic, checkpoint.partition)] = checkpoint.offset
                state = self.owned.get(checkpoint.partition)
                if state is not None:
                    state.written_s = max(state.written_s, taken)
                    if state.next_offset == checkpoint.offset:
                        state.dirty = False  # nothing applied since the snapshot
        if offsets:  # group offsets only serve lag tooling; the checkpoint is the truth
            try:
                await self.consumer.commit(offsets)
            except Exception as exc:
                log.info("processor: offset commit skipped (%r)", exc)

    async def on_revoked(self, revoked: list[Partition]) -> None:
        async with self.lock:
            await self.checkpoint([tp.partition for tp in revoked if tp.topic == self.topic])

    async def on_assigned(self, assigned: list[Partition]) -> None:
        """Restore → seek → resume, the one place it happens."""
        async with self.lock:
            self._making = None  # its partition may be gone, or restored anew
            new = {tp.partition for tp in assigned if tp.topic == self.topic}
            for q in [q for q in self.owned if q not in new]:
                self._forget(q)
            missing = sorted(q for q in new if q not in self.owned)
            checkpoints = await self._read_checkpoints(missing)
            for q in missing:
                self.owned[q] = restore(q, checkpoints.get(q), self.core, self.metrics)
            for q in sorted(new):
                self.consumer.seek(TopicPartition(self.topic, q), self.owned[q].next_offset)
            self.metrics.rebalances.inc()
            self.metrics.assigned_partitions.set(len(self.owned))
            log.info(
                "processor: owns %s",
                {q: self.owned[q].next_offset for q in sorted(self.owned)},
            )

    async def _read_checkpoints(self, partitions: list[int]) -> dict[int, Checkpoint | None]:
        delay = 0.2
        while True:
            try:
                return await self.checkpoints.read(partitions)
            except Exception as exc:  # broker away: we cannot process them without state
                if self.stopping:
                    raise
                log.warning("checkpoints of %s unreadable (%r); retrying", partitions, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _forget(self, q: int) -> None:
        state = self.owned.pop(q)
        for rid in state.hwm:
            self.core.forget(rid)
            self.silence.forget(rid)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(self, processor: Processor) -> None:
        self._processor = processor

    async def on_partitions_revoked(self, revoked: list[Partition]) -> None:
        await self._processor.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: list[Partition]) -> None:
        await self._processor.on_assigned(assigned)
