"""The worker's two stages in memory: telemetry messages through the ingest, its envelopes
through the processor and a core, with a broker stand-in that acks every send at once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition

from monitor.core.api import CoreProtocol
from monitor.worker.checkpoint import CheckpointStore
from monitor.worker.ingest import IngestStage
from monitor.worker.metrics import WorkerMetrics
from monitor.worker.partition import PartitionState
from monitor.worker.processor import Processor
from monitor.worker.publisher import Publisher
from monitor.worker.silence import SilenceWatch
from tests.keys import RING as TRUSTED
from tests.keys import WORKER
from tests.unit.worker.records import Record
from topics.commands import Command, decode_command
from topics.control_plane import ControlPlaneGate
from topics.deadletters import DeadLetter, decode_dead_letter

TELEMETRY = TopicPartition("tel", 0)
BY_ROLLOUT = TopicPartition("by", 0)
RING = WORKER  # the key publishers sign with


class AckingBroker:
    """Takes every send and acks it at once; keeps what was sent, by topic."""

    def __init__(self) -> None:
        self.sent: dict[str, list[tuple[bytes | None, bytes | None]]] = {}

    async def send(self, topic: str, value: Any = None, key: Any = None, partition: Any = None):
        self.sent.setdefault(topic, []).append((key, value))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}

    def take(self, topic: str) -> list[tuple[bytes | None, bytes | None]]:
        return self.sent.pop(topic, [])


class Consumer:
    def __init__(self) -> None:
        self.committed: list[dict[Any, int]] = []
        self.seeks: list[tuple[Any, int]] = []

    def highwater(self, tp: Any) -> None:
        return None

    def seek(self, tp: Any, offset: int) -> None:
        self.seeks.append((tp, offset))

    async def commit(self, offsets: dict[Any, int]) -> None:
        self.committed.append(offsets)


@dataclass
class Outcome:
    dead: list[DeadLetter] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)


@dataclass
class Pipeline:
    core: CoreProtocol
    max_rollouts: int = 1000
    broker: AckingBroker = field(default_factory=AckingBroker)
    metrics: WorkerMetrics = field(default_factory=lambda: WorkerMetrics("w", "test"))

    def __post_init__(self) -> None:
        self.ingest_consumer = Consumer()
        self.ingest = IngestStage(
            consumer=self.ingest_consumer,
            publisher=Publisher(self.broker, RING, "control", resend=False),
            metrics=self.metrics,
            by_rollout_topic="by",
            dlq_topic="dlq",
            gate=ControlPlaneGate(TRUSTED),
            reject_clock_skew=True,
        )
        self.processor = Processor(
            consumer=Consumer(),
            core=self.core,
            publisher=Publisher(self.broker, RING, "control"),
            checkpoints=CheckpointStore(self.broker, None, "state", "w"),
            metrics=self.metrics,
            topic="by",
            dlq_topic="dlq",
            silence=SilenceWatch(30.0),
            source_topic="tel",
            reject_clock_skew=True,
            max_rollouts=self.max_rollouts,
        )
        self.processor.owned[0] = PartitionState()
        self._offset = 0
        self._by_offset = 0

    async def feed(self, messages: list[bytes | None]) -> Outcome:
        """Send ``messages`` through both stages as one round each; what came out."""
        records = [Record(self._offset + i, value, b"k") for i, value in enumerate(messages)]
        self._offset += len(messages)
        await self.ingest.round({TELEMETRY: records})  # type: ignore[dict-item]  # stand-ins
        await self.ingest.commit()
        await self.by_rollout([value for _, value in self.broker.take("by")])
        out = Outcome()
        out.dead = [decode_dead_letter(value) for _, value in self.broker.take("dlq") if value]
        out.commands = [decode_command(value) for _, value in self.broker.take("control") if value]
        return out

    async def by_rollout(self, values: list[bytes | None]) -> None:
        """Hand ``by_rollout`` records to the processor (as the apply loop would)."""
        records = [Record(self._by_offset + i, value) for i, value in enumerate(values)]  # type: ignore[arg-type]  # None is a tombstone
        self._by_offset += len(values)
        if records:
            await self.processor.round({BY_ROLLOUT: records})
        assert await self.processor.flush()
