"""A forward the broker never acked, followed by later ones it did ack (a partition without a
leader past the request timeout fails queued batches one by one), loses nothing: the ingest
does not send the failed record again on its own, it reads again from its last commit, and
the processor sets aside what arrived without its predecessor."""

from __future__ import annotations

import asyncio
from typing import Any, NamedTuple

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaTimeoutError

from monitor.worker.ingest import IngestStage
from monitor.worker.metrics import WorkerMetrics
from monitor.worker.publisher import Publisher
from monitor.worker.take import take_all
from tests.keys import RING as TRUSTED
from tests.keys import WORKER
from tests.unit.worker.records import Record
from topics.codec import Decoder, encode_event
from topics.control_plane import ControlPlaneGate
from topics.events import Event, Metric

TP = TopicPartition("tel", 0)


class Sent(NamedTuple):
    topic: str
    value: bytes
    delivered: bool


class Producer:
    """Delivers every record but the ones ``fail`` names (by send number, from 0)."""

    def __init__(self, fail: set[int]) -> None:
        self.fail = fail
        self.sent: list[Sent] = []

    async def send(self, topic: str, value: bytes, key: Any = None, partition: Any = None) -> Any:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if len(self.sent) in self.fail:
            future.set_exception(KafkaTimeoutError("batch expired: no leader"))
        else:
            future.set_result(None)
        self.sent.append(Sent(topic, value, not future.exception()))
        return future

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}


class Consumer:
    """Committed offsets and seeks, as the ingest uses them."""

    def __init__(self) -> None:
        self.committed_at: int | None = None
        self.seeks: list[int | None] = []

    def assignment(self) -> set[Any]:
        return {TP}

    async def committed(self, tp: Any) -> int | None:
        return self.committed_at

    def seek(self, tp: Any, offset: int) -> None:
        self.seeks.append(offset)

    async def seek_to_beginning(self, *tps: Any) -> None:
        self.seeks.append(None)

    async def commit(self, offsets: dict[Any, int]) -> None:
        self.committed_at = offsets[TP]

    def highwater(self, tp: Any) -> None:
        return None


def metric(rid: str, i: int) -> Metric:
    return Metric(v=1, rollout_id=rid, variant="canary", ts=1.7e9 + i, name="x", value=i)


def stage_over(producer: Producer, consumer: Consumer, resend: bool = False) -> IngestStage:
    return IngestStage(
        consumer=consumer,
        publisher=Publisher(producer, WORKER, "control", resend=resend),
        metrics=WorkerMetrics("w", "test"),
        by_rollout_topic="by_rollout",
        dlq_topic="dlq",
        gate=ControlPlaneGate(TRUSTED),
    )


def applied(producer: Producer) -> tuple[dict[str, list[Event]], int]:
    """What a processor applies from the delivered ``by_rollout`` records, in log order,
    and how many envelopes it set aside."""
    hwm: dict[str, dict[int, int]] = {}
    events: dict[str, list[Event]] = {}
    gaps = 0
    for sent in producer.sent:
        if sent.topic == "by_rollout" and sent.delivered:
            for taken in take_all(sent.value, hwm, Decoder(), TP.topic):
                gaps += taken.gap
                for event in taken.events:
                    events.setdefault(event.rollout_id, []).append(event)
    return events, gaps


@pytest.mark.parametrize("lost_round", [0, 1])
def test_a_lost_forward_followed_by_delivered_ones_is_read_again_and_applied_once(
    lost_round: int,
) -> None:
    sent = [metric(rid, i) for i in range(6) for rid in ("a", "b")]
    records = [Record(100 + n, encode_event(e)) for n, e in enumerate(sent)]
    rounds = [records[:4], records[4:8], records[8:]]

    async def go() -> Producer:
        producer, consumer = Producer(fail={lost_round}), Consumer()  # one bundle per round
        stage = stage_over(producer, consumer)
        for forwarded in rounds:
            await stage.round({TP: forwarded})
            await stage.commit()
        kept = None if lost_round == 0 else 104
        assert consumer.committed_at == kept  # nothing committed past a failed forward
        await stage._rewind()
        assert consumer.seeks == [kept]  # None: from the beginning
        await stage.round({TP: records[4 * lost_round :]})  # what comes after the seek
        await stage.commit()
        assert consumer.committed_at == records[-1].offset + 1
        return producer

    events, gaps = applied(asyncio.run(go()))
    assert events == {rid: [e for e in sent if e.rollout_id == rid] for rid in ("a", "b")}
    assert gaps == 2 * (2 - lost_round)  # the later rounds' envelopes of a and b
