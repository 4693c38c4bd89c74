"""The worker's idempotent producer, watched for the failure it does not recover from.

aiokafka's idempotent producer (0.14) numbers each partition's batches. A batch that fails
for good after it got its number — expired after the partition had no leader for longer than
``request_timeout_ms``, or refused by the broker — leaves a hole in that numbering, and the
producer never closes it (no epoch bump, unlike the Java client since KAFKA-12152): every
later send to that partition that the broker checks against its sequence fails with
``OutOfOrderSequenceNumber`` until the process restarts (aio-libs/aiokafka#1017). Retrying
is hopeless; a worker that kept retrying stayed stuck for good after a broker outage (20,697
such failures in one run).

So a delivery that fails with a producer-state error (:data:`FATAL`) means the producer is
broken, and so does any failed delivery to a ``strict`` topic, where sending the record
again could land it after records sent later (commands: a re-sent PAUSE after its PROCEED).
The worker then stops and exits non-zero at once (``/healthz`` red meanwhile): its
supervisor starts it again with a new producer, and the checkpoint protocol resumes it with
nothing lost and nothing reordered — checkpoints and ingest commits never claim input whose
outputs were not acked, so every decision after them is made and sent again, in order,
under the same command id (``docs/outages.md``). Other failures are the caller's to handle
(the ingest reads its input again from its last commit; a refused checkpoint is written
again at the next interval); the next send into the hole, if any, is fatal.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from aiokafka.errors import (
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)

from monitor.edge.clients import Producer
from monitor.worker.health import CheckResult

FATAL: Final = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    ProducerFenced,
)
"""Errors after which an idempotent producer cannot deliver to the partition again."""


@dataclass
class WatchedProducer:
    """Sends through ``producer`` (an ``AIOKafkaProducer`` with idempotence) and calls
    ``on_broken`` once, with the error, when a delivery fails for good (module doc)."""

    producer: Producer
    on_broken: Callable[[BaseException], None]
    strict: frozenset[str] = frozenset()
    """Topics where any failed delivery breaks the producer (order matters there)."""
    broken_at: float | None = None
    """Monotonic time of the first failed delivery."""
    broken_by: str = ""

    def check(self, now: float) -> CheckResult:
        """``/healthz`` check ``producer``: no delivery has failed."""
        if self.broken_at is None:
            return CheckResult(True, "delivers")
        return CheckResult(False, f"broken {now - self.broken_at:.0f} s ago: {self.broken_by}")

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def partitions_for(self, topic: str) -> set[int]:
        return await self.producer.partitions_for(topic)

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
    ) -> asyncio.Future[object]:
        future = await self.producer.send(topic, value=value, key=key, partition=partition)
        # added before any caller awaits it, so it runs first: the worker knows before the
        # caller decides what to do about the failure
        future.add_done_callback(lambda done: self._settled(done, topic, partition))
        return future

    def _settled(self, future: asyncio.Future[object], topic: str, partition: int | None) -> None:
        if future.cancelled() or self.broken_at is not None:
            return
        error = future.exception()
        if error is None or not (isinstance(error, FATAL) or topic in self.strict):
            return
        self.broken_at = time.monotonic()
        where = topic if partition is None else f"{topic}[{partition}]"
        self.broken_by = f"{type(error).__name__} on {where}"
        self.on_broken(error)
