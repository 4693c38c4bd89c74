"""The ingest agent's work: telemetry → envelopes keyed by rollout, or dead letters.

The repartition step of the native ingest, on faust's stream: the same
:class:`~monitor.worker.routing.Router` turns a batch of telemetry messages into batch
envelopes per rollout (the producers' own bytes, each event's source position, each envelope
naming the one forwarded before it) and dead letters for what cannot be routed. Each
rollout's envelopes go out as one record keyed by the rollout id, so the producer's
partitioner sends them where the rollout's state lives.

The agent takes batches with ``Stream.noack_take``; a batch's offsets are committed once the
broker acked everything forwarded for them (and for the batches before it): telemetry is
committed only behind acked forwards, by the adapter itself (faust's acks are off for its
topics: faust acks a message it skips at a rebalance, ``docs/faust.md``). A forward that
fails is not sent again on its own (it could land after later ones): nothing after it is
committed and the app is stopped (``on_error``; the agent also raises at its next batch,
under a ``CrashingSupervisor``). After the restart faust delivers everything after its last
commit again; the apply side drops what it had already (the source positions).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from monitor.edge.clients import Sender
from monitor.worker.health import StageProgress
from monitor.worker.metrics import WorkerMetrics
from monitor.worker.publisher import Publisher
from monitor.worker.routing import Router, bundles, dead_letter_bytes
from topics.errors import RollguardError


class ForwardError(RollguardError):
    """The broker did not ack a forward: the app must restart from its last commit."""


class Record(NamedTuple):
    """A faust message as :class:`Router` reads records (aiokafka's shape)."""

    offset: int
    value: Any
    key: bytes | None
    timestamp: int
    """Milliseconds (faust's ``Message.timestamp`` is in seconds)."""


@dataclass
class Forwarder:
    router: Router
    publisher: Publisher[Sender]
    """resend=False: a failed forward is reported, never sent again on its own."""
    metrics: WorkerMetrics
    topic: str
    """The repartition topic."""
    dlq_topic: str
    progress: StageProgress = field(default_factory=lambda: StageProgress("ingest", 0.0))
    positions: dict[Any, int] = field(default_factory=dict)
    """Next offset of each partition forwarded (lag)."""

    commit: Callable[[Sequence[Any]], Awaitable[Any]] | None = None
    """Commits the offsets after these faust events (the adapter's own commit, see
    :mod:`monitor.faust`); set when the agent starts."""
    on_error: Callable[[BaseException], None] = field(default=lambda exc: None)
    """Told when a forward was not acked (the app must stop: nothing after it is committed)."""
    _acking: asyncio.Task[None] | None = None

    async def forward(self, events: Sequence[Any]) -> None:
        """Route a batch of faust events of the telemetry topic and send what it becomes;
        the batch is acked in the background once the broker acked all of it, after the
        batches before it (the agent goes on with the next batch meanwhile: awaiting the
        broker here would stall faust's delivery to every agent for a round trip a batch)."""
        if self._acking is not None and self._acking.done() and self._acking.exception():
            raise ForwardError("an earlier forward was not acked")
        batches: dict[Any, list[Record]] = {}
        for event in events:
            message = event.message
            timestamp = int((message.timestamp or 0.0) * 1000)
            record = Record(message.offset, message.value, message.key, timestamp)
            batches.setdefault(message.tp, []).append(record)
        for tp, records in batches.items():
            self.metrics.messages.labels(tp.topic).inc(len(records))
        envelopes, dead = self.router.forward(batches)
        for letter, key in dead:
            self.metrics.dlq.labels(letter.reason).inc()
            await self.publisher.send(self.dlq_topic, dead_letter_bytes(letter), key)
        for rollout_id, out in envelopes.items():
            for bundle in bundles(out):
                await self.publisher.send(self.topic, bundle, rollout_id.encode())
        ends = {tp: records[-1].offset + 1 for tp, records in batches.items()}
        task = asyncio.create_task(self._commit_when_acked(self._acking, list(events), ends))
        task.add_done_callback(self._failed)
        self._acking = task

    async def drain(self) -> None:
        """Wait until every batch forwarded so far is acked (or raise its failure)."""
        if self._acking is not None:
            await self._acking

    async def _commit_when_acked(
        self, before: asyncio.Task[None] | None, events: list[Any], ends: dict[Any, int]
    ) -> None:
        if before is not None:
            await before  # raises its failure: nothing after a failed forward is committed
        if not await self.publisher.flush():
            self.router.forget_positions()
            raise ForwardError(f"forwarding {len(events)} telemetry messages was not acked")
        if self.commit is not None:
            await self.commit(events)
        self.progress.advanced(len(events), time.monotonic())
        self.positions.update(ends)

    def _failed(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and task is self._acking:
            self.on_error(task.exception())  # type: ignore[arg-type]  # not None, checked
