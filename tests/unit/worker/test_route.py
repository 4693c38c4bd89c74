"""Validating once, in the processor, judges every event as the ``Decoder`` judges it in its
original message: the ingest's routing plus :func:`take` give the same valid events (per
rollout, in order) and the same dead letters (reason, message, offset, index) as the
control-plane gate followed by ``Decoder.decode`` of the message, for arbitrary mutated
single events and batches."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any, NamedTuple

from aiokafka import TopicPartition
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.worker.ingest import IngestStage
from monitor.worker.metrics import WorkerMetrics
from monitor.worker.publisher import Publisher
from monitor.worker.routing import route
from monitor.worker.take import take_all
from tests.keys import OPERATOR, WORKER
from tests.keys import RING as TRUSTED
from tests.unit.topics.test_codec_properties import SLOW_OK, VALID, dumps, mutated_event
from tests.unit.worker.records import Record
from topics.codec import Decoder
from topics.control_plane import ControlPlaneGate
from topics.deadletters import DeadLetter, Source, decode_dead_letter
from topics.events import Event
from topics.signing import sign_document

DECODER = Decoder(max_message_bytes=64_000, max_batch_events=50)


def operator_signed(event: dict[str, Any]) -> dict[str, Any]:
    """A ``plan`` / ``signoff`` event as an operator (ana, cto) signs it; others as they are."""
    if event["kind"] not in ("plan", "signoff"):
        return event
    return sign_document(event | ({"by": "ana"} if event["kind"] == "signoff" else {}), OPERATOR)


SIGNED = [operator_signed(e) for e in VALID]
TP = TopicPartition("tel", 2)


class Sent(NamedTuple):
    topic: str
    value: bytes


class Producer:
    """Stands in for the broker: keeps what was sent, in order, and acks it at once."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []

    async def send(self, topic: str, value: bytes, key: Any = None, partition: Any = None) -> Any:
        self.sent.append(Sent(topic, value))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1, 2}


def two_stage(messages: list[bytes]) -> tuple[dict[str, list[Event]], list[DeadLetter]]:
    """The messages through the ingest stage, then its envelopes through :func:`take`."""
    producer = Producer()
    stage = IngestStage(
        consumer=None,
        publisher=Publisher(producer, WORKER, "control"),
        metrics=WorkerMetrics("w", "test"),
        by_rollout_topic="by_rollout",
        dlq_topic="dlq",
        gate=ControlPlaneGate(TRUSTED),
        decoder=DECODER,
        envelope_max_events=4,  # small envelopes: positions cross envelope boundaries
    )
    records = [Record(10 + i, m) for i, m in enumerate(messages)]
    asyncio.run(stage._forward({TP: records}))
    events: dict[str, list[Event]] = {}
    dead: list[DeadLetter] = []
    hwm: dict[str, dict[int, int]] = {}
    for sent in producer.sent:
        if sent.topic == "dlq":
            dead.append(decode_dead_letter(sent.value))
            continue
        for taken in take_all(sent.value, hwm, DECODER, TP.topic):
            for event in taken.events:
                events.setdefault(event.rollout_id, []).append(event)
            dead += taken.dead
    return events, dead


def one_stage(messages: list[bytes]) -> tuple[dict[str, list[Event]], list[DeadLetter]]:
    events: dict[str, list[Event]] = {}
    dead: list[DeadLetter] = []
    gate = ControlPlaneGate(TRUSTED)
    for i, sent in enumerate(messages):
        message = sent
        screen = gate.screen(message)
        if screen is not None and screen.refused:
            dead += [
                DeadLetter(reason=r.reason, message=r.detail, original=b"", topic=TP.topic,
                           partition=TP.partition, offset=10 + i, index=r.item)
                for r in screen.refused
            ]  # fmt: skip
            if screen.whole or screen.remaining is None:
                continue
            message = screen.remaining
        out = DECODER.decode(message, Source(TP.topic, TP.partition, 10 + i))
        for event in out.events:
            events.setdefault(event.rollout_id, []).append(event)
        dead += out.dead
    return events, dead


def judged(dead: list[DeadLetter]) -> Counter[tuple[str, str, int, int, int | None]]:
    return Counter((d.reason, d.message, d.partition, d.offset, d.index) for d in dead)


def assert_same(messages: list[bytes]) -> None:
    got_events, got_dead = two_stage(messages)
    want_events, want_dead = one_stage(messages)
    assert got_events == want_events
    assert judged(got_dead) == judged(want_dead)


@st.composite
def near_valid_event(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with one field off in a way a typed decode alone does not catch, or
    that only the processor sees (the ingest reads nothing but ``rollout_id``)."""
    event = dict(draw(st.sampled_from(VALID)))
    key, value = draw(
        st.sampled_from(
            [
                ("v", 2),
                ("v", 0),
                ("ts", 12),
                ("rollout_id", "has space"),
                ("rollout_id", 5),
                ("kind", "nope"),
                ("variant", "nope"),
                ("extra", 1),
            ]
        )
    )
    event[key] = value
    return event


event = st.one_of(
    mutated_event(), near_valid_event(), st.sampled_from(VALID), st.sampled_from(SIGNED)
)
message = st.one_of(
    event.map(dumps),
    st.lists(event, min_size=0, max_size=8).map(
        lambda events: dumps({"kind": "batch", "v": 1, "events": events})
    ),
    st.lists(st.sampled_from(VALID), min_size=1, max_size=8).map(
        lambda events: dumps({"kind": "batch", "v": 1, "events": events})
    ),
    st.sampled_from([b"not json", b"[1]", b'{"kind":"batch","v":2,"events":[]}', b"{}"]),
)


@settings(max_examples=300, suppress_health_check=SLOW_OK)
@given(st.lists(message, min_size=1, max_size=6))
def test_routing_then_take_judges_like_the_decoder(messages: list[bytes]) -> None:
    assert_same(messages)


def test_a_batch_with_bad_events_keeps_its_good_ones() -> None:
    good = [operator_signed(dict(e, rollout_id="r1")) for e in VALID]
    bad = [dict(VALID[1], rollout_id="r1", ts=12), dict(VALID[0], rollout_id="r1", qty=-1)]
    batch = dumps({"kind": "batch", "v": 1, "events": [good[0], bad[0], *good[1:], bad[1]]})
    events, dead = two_stage([batch])
    assert len(events["r1"]) == len(good)
    assert sorted((d.reason, d.index) for d in dead) == [
        ("absurd_value", len(good) + 1),
        ("bad_timestamp", 1),
    ]
    assert_same([batch])


def test_unroutable_events_are_judged_by_the_ingest() -> None:
    batch = dumps({"kind": "batch", "v": 1, "events": [VALID[1], {"kind": "metric", "v": 1}]})
    events, dead = two_stage([batch])
    assert [len(v) for v in events.values()] == [1]
    assert [(d.reason, d.index) for d in dead] == [("missing_field", 1)]
    assert_same([batch])


@st.composite
def one_rollout_batch(draw: st.DrawFn) -> bytes:
    """A batch the ingest forwards whole (one rollout, at most ``envelope_max_events``
    events), its events and its header sometimes wrong in ways only the processor sees."""
    events = draw(st.lists(st.one_of(near_valid_event(), st.sampled_from(VALID)), max_size=4))
    batch: dict[str, Any] = {"kind": "batch", "v": 1, "events": []}
    batch["events"] = [dict(e, rollout_id="r7") for e in events]
    producer = draw(st.sampled_from([None, "gw-1", "fix gateway", "", "x" * 200]))
    if producer is not None:
        batch["producer"] = producer
    return dumps(batch)


@settings(max_examples=200, suppress_health_check=SLOW_OK)
@given(st.lists(one_rollout_batch(), min_size=1, max_size=4))
def test_batches_forwarded_whole_are_judged_like_the_decoder(messages: list[bytes]) -> None:
    assert all(route(m, DECODER, 4).whole for m in messages if b'"events": []' not in m)
    assert_same(messages)


def test_an_overlong_rollout_id_is_judged_by_the_ingest() -> None:
    """Forwarded, it would sit in the envelope header beside its event: a big enough one
    would outgrow a Kafka message and stall the ingest, which reads the round again."""
    long_id = "r" * 129
    single = dumps(dict(VALID[1], rollout_id=long_id))
    batch = dumps(
        {"kind": "batch", "v": 1, "events": [VALID[1], dict(VALID[1], rollout_id=long_id)]}
    )
    assert route(single, DECODER) is None and route(batch, DECODER, 4) is None
    events, dead = two_stage([single, batch])
    assert [len(v) for v in events.values()] == [1]
    assert [(d.reason, d.offset, d.index) for d in dead] == [
        ("invalid", 10, None),
        ("invalid", 11, 1),
    ]
    assert_same([single, batch])
