"""Decoder behaviour, one reason at a time: bytes in, events or dead letters out."""

from __future__ import annotations

import msgspec
import orjson
import pytest

from topics.codec import Decoder, encode_batch, encode_event
from topics.deadletters import DLQ_REASONS, Source, decode_dead_letter, encode_dead_letter
from topics.events import Metric, Order, Shadow, Signoff, Status

TS = 1_700_000_000.0


def order(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "kind": "order",
        "v": 1,
        "rollout_id": "r1",
        "variant": "canary",
        "ts": TS,
        "order_id": "o1",
        "status": "filled",
        "latency_ms": 12.5,
        "qty": 10,
        "filled_qty": 10,
        "segment": {"region": "eu"},
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def raw(obj: object) -> bytes:
    return orjson.dumps(obj)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not_json"),
        (b"\xff\xfe garbage", "not_json"),
        (b'{"kind": "order",', "not_json"),
        (b"[1, 2, 3]", "wrong_type"),
        (b'"just a string"', "wrong_type"),
        (raw(order(latency_ms="fast")), "wrong_type"),
        (raw(order(ts="yesterday")), "wrong_type"),
        (raw({k: v for k, v in order().items() if k != "rollout_id"}), "missing_field"),
        (raw({k: v for k, v in order().items() if k != "v"}), "missing_field"),
        (raw({k: v for k, v in order().items() if k != "ts"}), "missing_field"),
        (raw(order(v=2)), "unknown_version"),
        (raw(order(v=0, status="whatever")), "unknown_version"),
        (raw(order(variant="green")), "unknown_enum"),
        (raw(order(status="exploded")), "unknown_enum"),
        (raw(order(kind="telepathy")), "unknown_enum"),
        (raw(order(latency_ms=-1.0)), "absurd_value"),
        (raw(order(filled_qty=11)), "absurd_value"),
        (
            b'{"kind":"metric","v":1,"rollout_id":"r","variant":"canary","ts":1.7e9,'
            b'"name":"x","value":1e999}',
            "absurd_value",
        ),
        (raw(order(ts=5_000_000_000.0)), "bad_timestamp"),
        (raw(order(ts=100.0)), "bad_timestamp"),
        (raw(order(rollout_id="has spaces")), "invalid"),
        (raw({"kind": "batch", "v": 1, "events": "nope"}), "wrong_type"),
        (raw({"kind": "batch", "v": 3, "events": []}), "unknown_version"),
    ],
)
def test_each_bad_input_gets_its_reason(data: bytes, reason: str) -> None:
    out = Decoder().decode(data, Source("in", 2, 41))
    assert out.events == []
    assert [d.reason for d in out.dead] == [reason]
    dead = out.dead[0]
    assert dead.original == data
    assert (dead.topic, dead.partition, dead.offset) == ("in", 2, 41)
    assert dead.message
    assert reason in DLQ_REASONS


def test_valid_single_event_decodes_to_its_model() -> None:
    out = Decoder().decode(raw(order()))
    assert out.dead == []
    (event,) = out.events
    assert isinstance(event, Order)
    assert event.latency_ms == 12.5
    assert event.segment == {"region": "eu"}


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    out = Decoder().decode(raw(order(added_in_a_later_minor="x")))
    assert len(out.events) == 1


def test_single_and_batch_forms_decode_to_the_same_events() -> None:
    events = [
        Order(
            v=1,
            rollout_id="r1",
            variant="baseline",
            ts=TS,
            order_id="a",
            status="rejected",
            reject_reason="no_liquidity",
        ),
        Metric(v=1, rollout_id="r1", variant="canary", ts=TS + 1, name="cpu_pct", value=41.0),
        Shadow(
            v=1,
            rollout_id="r1",
            variant="shadow",
            ts=TS + 2,
            route="lp2",
            outcome="accept",
            corr_id="c1",
        ),
        Status(
            v=1,
            rollout_id="r1",
            variant="baseline",
            ts=TS + 3,
            object_id="p1",
            system="crm",
            state="pending",
        ),
        Signoff(
            v=1, rollout_id="r1", variant="canary", ts=TS + 4, stage="s5", role="cto", by="Ada"
        ),
    ]
    d = Decoder()
    singles = [e for ev in events for e in d.decode(encode_event(ev)).events]
    batched = d.decode(encode_batch(events, producer="test")).events
    assert singles == events
    assert batched == events


def test_bad_events_inside_a_batch_are_dead_lettered_one_by_one() -> None:
    good = orjson.loads(
        encode_event(Metric(v=1, rollout_id="r", variant="canary", ts=TS, name="m", value=1.0))
    )
    items = [good, {"kind": "metric", "v": 1}, good, 7, {**good, "v": 9}, {**good, "ts": 1e12}]
    out = Decoder().decode(raw({"kind": "batch", "v": 1, "events": items}), Source("t", 0, 5))
    assert len(out.events) == 2
    assert [(d.reason, d.index) for d in out.dead] == [
        ("missing_field", 1),
        ("wrong_type", 3),
        ("unknown_version", 4),
        ("bad_timestamp", 5),
    ]
    assert all(d.offset == 5 for d in out.dead)
    assert orjson.loads(out.dead[0].original) == items[1]


def test_number_overflow_inside_a_batch_loses_only_that_event() -> None:
    good = raw(order())
    bad = good.replace(b'"latency_ms":12.5', b'"latency_ms":1e999')
    out = Decoder().decode(b'{"kind":"batch","v":1,"events":[' + good + b"," + bad + b"]}")
    assert len(out.events) == 1
    assert [(d.reason, d.index) for d in out.dead] == [("absurd_value", 1)]


def test_limits_on_message_size_and_batch_length() -> None:
    d = Decoder(max_message_bytes=2_000, max_batch_events=3)
    big = raw(order(reject_reason="x" * 3_000))
    assert [x.reason for x in d.decode(big).dead] == ["oversized_message"]
    ev = Metric(v=1, rollout_id="r", variant="canary", ts=TS, name="m", value=1.0)
    assert [x.reason for x in d.decode(encode_batch([ev] * 4)).dead] == ["oversized_batch"]
    assert len(d.decode(encode_batch([ev] * 3)).events) == 3


def test_timestamps_are_checked_against_now_only_when_given() -> None:
    d = Decoder(max_future_s=60, max_past_s=3_600)
    data = raw(order())
    assert len(d.decode(data).events) == 1  # offline replay: only the absolute range
    assert len(d.decode(data, now=TS + 10).events) == 1
    assert [x.reason for x in d.decode(data, now=TS - 120).dead] == ["future_timestamp"]
    assert [x.reason for x in d.decode(data, now=TS + 7_200).dead] == ["stale_timestamp"]


def test_by_default_only_the_future_is_bounded_and_tightly() -> None:
    """2 s ahead at most (an event inside that cannot make an on-time event late under the
    default 2 s allowed lateness); any age is fine: an old event cannot move a watermark."""
    d = Decoder()
    data = raw(order())
    assert len(d.decode(data, now=TS - 2).events) == 1
    [dead] = d.decode(data, now=TS - 2.5).dead
    assert dead.reason == "future_timestamp" and "2.500 s ahead" in dead.message
    assert len(d.decode(data, now=TS + 365 * 86_400).events) == 1


def test_deep_nesting_is_refused_before_parsing() -> None:
    deep = b'{"kind":"metric","v":1,"x":' + b"[" * 1000 + b"]" * 1000 + b"}"
    [dead] = Decoder().decode(deep).dead
    assert (dead.reason, dead.message) == ("too_deep", "JSON nested deeper than 32 levels")
    [dead] = Decoder().decode(b"[" * 1000).dead
    assert dead.reason == "not_json"


def test_non_bytes_input_is_a_dead_letter_not_an_exception() -> None:
    out = Decoder().decode("a str", Source())  # type: ignore[arg-type]
    assert [x.reason for x in out.dead] == ["wrong_type"]


def test_dead_letter_round_trips_through_json_with_original_bytes() -> None:
    dead = Decoder().decode(b"\x00\x01binary", Source("raw", 1, 99)).dead[0]
    back = decode_dead_letter(encode_dead_letter(dead))
    assert back == dead
    assert orjson.loads(encode_dead_letter(dead))["reason"] == "not_json"


def test_events_are_immutable() -> None:
    event = Decoder().decode(raw(order())).events[0]
    with pytest.raises(AttributeError):
        event.ts = 0.0  # type: ignore[misc]
    assert msgspec.structs.replace(event, ts=TS + 1).ts == TS + 1
