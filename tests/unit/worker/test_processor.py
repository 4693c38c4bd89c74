"""Broker round trips run beside the loops, not in them: a checkpoint taken now is written
only once the commands made before it are acked, an ingest commit only once its envelopes
are, and the loops meanwhile go on. The broker is a stand-in whose acks the test releases."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import TopicPartition

from monitor.worker.checkpoint import Checkpoint, CheckpointStore
from monitor.worker.envelope import encode_envelope
from monitor.worker.ingest import IngestStage
from monitor.worker.metrics import WorkerMetrics
from monitor.worker.partition import PartitionState
from monitor.worker.processor import Processor
from monitor.worker.publisher import Publisher
from monitor.worker.silence import SilenceWatch
from tests.integration.worker.threshold_core import ThresholdCore
from tests.keys import RING as TRUSTED
from tests.keys import WORKER
from tests.unit.worker.records import Record
from topics.codec import encode_event
from topics.control_plane import ControlPlaneGate
from topics.events import Metric

TP = TopicPartition("by", 0)


class Broker:
    """Takes sends and acks them only when told (``ack``)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, asyncio.Future[None]]] = []

    async def send(self, topic: str, value: Any = None, key: Any = None, partition: Any = None):
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sent.append((topic, value, future))
        return future

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}

    def topics(self) -> list[str]:
        return [topic for topic, _, _ in self.sent]

    def ack(self, topic: str) -> None:
        for sent_to, _, future in self.sent:
            if sent_to == topic and not future.done():
                future.set_result(None)


class Consumer:
    def __init__(self) -> None:
        self.committed: list[dict[Any, int]] = []

    def highwater(self, tp: Any) -> None:
        return None

    async def commit(self, offsets: dict[Any, int]) -> None:
        self.committed.append(offsets)


def envelope(offset: int, values: list[float]) -> Record:
    events = [
        Metric(v=1, rollout_id="r1", variant="canary", ts=1.7e9 + i, name="error_rate", value=v)
        for i, v in enumerate(values, start=offset * 100)
    ]
    positions = list(range(offset * 100, offset * 100 + len(events)))
    return Record(offset, encode_envelope(0, positions, [encode_event(e) for e in events], 0, "r1"))


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def test_a_checkpoint_waits_for_the_commands_before_it_and_not_the_loop() -> None:
    async def go() -> None:
        broker, consumer = Broker(), Consumer()
        processor = Processor(
            consumer=consumer,
            core=ThresholdCore(),
            publisher=Publisher(broker, WORKER, "control"),
            checkpoints=CheckpointStore(broker, None, "state", "w"),
            metrics=WorkerMetrics("w", "test"),
            topic="by",
            dlq_topic="dlq",
            silence=SilenceWatch(30.0),
        )
        processor.owned[0] = PartitionState()
        await processor.round({TP: [envelope(0, [0.2] * 10)]})  # above for 9 s: pause
        assert broker.topics() == ["control"]

        processor._checkpoint_step(time.monotonic() + processor.checkpoint_interval_s)
        await settle()
        assert "state" not in broker.topics()  # the pause is not acked yet

        await processor.round({TP: [envelope(1, [0.01] * 3)]})  # the loop goes on
        assert processor.owned[0].next_offset == 2

        broker.ack("control")
        await settle()
        written = [value for topic, value, _ in broker.sent if topic == "state"]
        assert written, "the checkpoint follows the ack"
        checkpoint = Checkpoint.decode(written[0])  # one chunk, then the marker
        assert checkpoint.offset == 1  # as it was when taken, not as it is now
        assert checkpoint.hwm == {"r1": {0: 9}}
        broker.ack("state")
        await settle()
        assert processor.owned[0].dirty  # offset 1 was applied after the snapshot
        assert consumer.committed == [{TopicPartition("by", 0): 1}]

    asyncio.run(go())


def test_the_ingest_commits_in_the_background_once_its_envelopes_are_acked() -> None:
    async def go() -> None:
        broker, consumer = Broker(), Consumer()
        stage = IngestStage(
            consumer=consumer,
            publisher=Publisher(broker, WORKER, "control"),
            metrics=WorkerMetrics("w", "test"),
            by_rollout_topic="by",
            dlq_topic="dlq",
            gate=ControlPlaneGate(TRUSTED),
        )
        telemetry = TopicPartition("tel", 3)
        event = Metric(v=1, rollout_id="r1", variant="canary", ts=1.7e9, name="x", value=1.0)
        await stage.round({telemetry: [Record(5, encode_event(event))]})
        stage._commit_soon()
        await settle()
        assert consumer.committed == []  # the envelope is not acked yet
        await stage.round({telemetry: [Record(6, encode_event(event))]})  # the loop goes on
        broker.ack("by")
        await settle()
        assert consumer.committed == [{telemetry: 6}]
        await stage.commit()  # revocation / stop: the rest, after the one in flight
        assert consumer.committed == [{telemetry: 6}, {telemetry: 7}]

    asyncio.run(go())
