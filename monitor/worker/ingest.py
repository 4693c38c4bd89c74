"""Ingest: raw telemetry → route by rollout into ``by_rollout``, or dead-letter.

A repartition step, as Kafka Streams does: producers key telemetry however they like; this
stage reads it in large ``getmany`` batches (no per-message framework cost) and forwards batch
envelopes keyed by ``rollout_id``, so every event of a rollout reaches the one worker that
owns its state, in the order it was read.

Routing itself (which rollout each event belongs to, the envelopes, the dead letters of
messages that cannot be routed) is pure and shared with the faust adapter:
:class:`~monitor.worker.routing.Router`.

Crash safety (at-least-once here, made exactly-once downstream): input offsets are committed
only after every envelope and dead letter forwarded for them was acked by the broker (acks
are awaited every ``COMMIT_EVERY_S``, not per round, so rounds overlap their round trips).
If forwarding a round fails, that round is read again from its first offsets. A forward the
broker never acked is not sent again on its own (it could land after envelopes sent later):
the stage reads again from its last commit and forwards everything after it. Events forwarded
twice (crash between ack and commit, rewind) carry the same source offsets and are dropped by
the processor; each envelope names the position forwarded before it, so the processor sets
aside one that arrived without its predecessor (see :mod:`monitor.worker.envelope`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Final

from aiokafka import ConsumerRebalanceListener

from monitor.edge.clients import Batches, Consumer, Partition, Producer
from monitor.worker.fetch import fetch_round
from monitor.worker.health import StageProgress
from monitor.worker.metrics import WorkerMetrics
from monitor.worker.publisher import Publisher
from monitor.worker.routing import Router, bundles, dead_letter_bytes
from topics.codec import Decoder
from topics.control_plane import ControlPlaneGate

log = logging.getLogger(__name__)

COMMIT_EVERY_S: Final = 0.1


@dataclass
class IngestStage:
    consumer: Consumer  # subscribed to the telemetry topic, auto-commit off
    publisher: Publisher[Producer]
    metrics: WorkerMetrics
    by_rollout_topic: str
    dlq_topic: str
    gate: ControlPlaneGate
    """Control-plane events need an operator signature (``topics.control_plane``)."""
    decoder: Decoder = field(default_factory=Decoder)
    max_records: int = 5000
    envelope_max_events: int = 1000
    reject_clock_skew: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    progress: StageProgress = field(
        default_factory=lambda: StageProgress("ingest", time.monotonic())
    )
    """Offsets committed, input waiting, rounds failing: what ``/healthz`` judges."""
    stopping: bool = False
    _to_commit: dict[Partition, int] = field(default_factory=dict)
    _committed: dict[Partition, int] = field(default_factory=dict)
    _first_read: dict[Partition, int] = field(default_factory=dict)
    _lag: dict[Partition, int] = field(default_factory=dict)
    _rewind_due: bool = False
    _failures: int = 0
    """Forwards found failed so far (a commit counted before one must not happen)."""
    _last_commit_s: float = field(default_factory=time.monotonic)
    _committing: asyncio.Task[None] | None = None

    router: Router = field(init=False)

    def __post_init__(self) -> None:
        self.router = Router(
            self.gate, self.decoder, self.envelope_max_events, self.reject_clock_skew
        )

    async def run(self) -> None:
        while not self.stopping:
            batches = await fetch_round(self.consumer, self.max_records, "ingest")
            if batches is None:
                continue
            self.progress.turned(time.monotonic())
            async with self.lock:
                if self._rewind_due:  # what was fetched before the seek comes again
                    await self._rewind()
                    continue
                if batches:
                    await self.round(batches)
                if not batches or time.monotonic() - self._last_commit_s >= COMMIT_EVERY_S:
                    self._commit_soon()

    async def round(self, batches: Batches) -> None:
        """Forward one batch; its offsets are committed later, once acked (:meth:`commit`).

        Not waiting for acks here keeps broker round trips off the per-round path: sends of
        consecutive rounds overlap, and a commit every ``COMMIT_EVERY_S`` covers them all.
        """
        first = {tp: records[0].offset for tp, records in batches.items() if records}
        try:
            await self._forward(batches)
        except Exception as exc:  # sending failed (each message's own faults are handled)
            log.exception("ingest: round failed; reading it again")
            self.metrics.loop_failures.labels("ingest", type(exc).__name__).inc()
            self.progress.failed(sorted(first.items()), type(exc).__name__)
            for tp, offset in first.items():
                self.consumer.seek(tp, offset)
                self._note_lag(tp, offset)
            self.router.forget_positions()  # what it sent before failing may not arrive
            return
        for tp, records in batches.items():
            if records:
                self._to_commit[tp] = records[-1].offset + 1
                self._note_lag(tp, records[0].offset)

    def _note_lag(self, tp: Partition, first_read: int) -> None:
        """Messages of ``tp`` not committed yet (read or not): what /healthz calls waiting."""
        highwater = self.consumer.highwater(tp)
        if highwater is not None:
            done = self._committed.get(tp, self._first_read.setdefault(tp, first_read))
            lag = self._lag[tp] = max(0, highwater - done)
            self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)
            self.progress.lag = sum(self._lag.values())

    async def commit(self) -> None:
        """Wait for every forwarded envelope and dead letter to be acked, then commit (on
        revocation and stop: after the commit in flight, if any)."""
        if self._committing is not None:
            await self._committing
        self._last_commit_s = time.monotonic()
        offsets, self._to_commit = self._to_commit, {}
        await self._commit(offsets, self._failures)

    def _commit_soon(self) -> None:
        """:meth:`commit` in a task of its own: the acks and the commit are two broker round
        trips that new input need not wait for (measured: a third of the loop's time when
        the broker is slow). One at a time; the next one covers what came meanwhile."""
        if self._committing is not None and not self._committing.done():
            return
        self._last_commit_s = time.monotonic()
        offsets, self._to_commit = self._to_commit, {}
        self._committing = (
            asyncio.create_task(self._commit(offsets, self._failures)) if offsets else None
        )

    async def _commit(self, offsets: dict[Partition, int], failures: int) -> None:
        """Commit ``offsets`` once everything forwarded so far is acked; everything read
        below them was forwarded before this was called. Never past a failed forward:
        not while a rewind is due, nor when one failed since ``failures`` was counted."""
        if not offsets or self._rewind_due:
            return
        if not await self.publisher.flush():  # stopping, or a forward failed
            self._failures += 1
            self._rewind_due = True  # nothing committed: read again from the last commit
            return
        if self._failures != failures:
            return
        try:
            await self.consumer.commit(offsets)
        except Exception as exc:  # rebalance or broker away: a later commit covers it
            log.warning("ingest: commit failed (%r); the processor drops repeats", exc)
            return
        done = sum(max(1, offset - self._committed.get(tp, 0)) for tp, offset in offsets.items())
        self._committed.update(offsets)
        self.progress.advanced(done, time.monotonic())
        for tp, offset in offsets.items():
            self._note_lag(tp, offset)

    async def _rewind(self) -> None:
        """Read again from the last commit: a forward after it failed (its events and all
        after them are forwarded again; the processor drops what it had)."""
        try:
            for tp in self.consumer.assignment():
                committed = await self.consumer.committed(tp)
                if committed is None:
                    await self.consumer.seek_to_beginning(tp)
                else:
                    self.consumer.seek(tp, committed)
        except Exception as exc:  # broker away: try again next round
            log.warning("ingest: rewind failed (%r); trying again", exc)
            await asyncio.sleep(0.5)
            return
        self._rewind_due = False
        self.router.forget_positions()
        self._to_commit.clear()
        self.metrics.rewinds.inc()
        self.progress.failed(sorted(self._committed.items()), "forward not acked")
        log.warning("ingest: a forward failed; reading again from the last commit")

    def forget_positions(self) -> None:
        """A rebalance: envelopes claim no predecessor until reading resumed."""
        self.router.forget_positions()
        self._lag.clear()
        self._first_read.clear()
        self.progress.lag = None

    async def _forward(self, batches: Batches) -> None:
        for tp, records in batches.items():
            self.metrics.messages.labels(tp.topic).inc(len(records))
        envelopes, dead = self.router.forward(batches)
        for letter, key in dead:
            await self.publisher.send(self.dlq_topic, dead_letter_bytes(letter), key)
        for letter, _ in dead:
            self.metrics.dlq.labels(letter.reason).inc()
        targets: dict[int, list[bytes]] = {}  # by_rollout partition -> its envelopes, in order
        partition_of = await self.publisher.partitioner(self.by_rollout_topic)
        for rollout_id, out in envelopes.items():
            targets.setdefault(partition_of(rollout_id.encode()), []).extend(out)
        for target, out in targets.items():
            for bundle in bundles(out):
                await self.publisher.send(self.by_rollout_topic, bundle, None, target)


class IngestListener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """On revocation, let the round in flight finish, then commit what is acked."""

    def __init__(self, stage: IngestStage) -> None:
        self._stage = stage

    async def on_partitions_revoked(self, revoked: list[Partition]) -> None:
        async with self._stage.lock:
            await self._stage.commit()
            self._stage.forget_positions()

    async def on_partitions_assigned(self, assigned: list[Partition]) -> None:
        self._stage.forget_positions()  # committed offsets are where to resume
