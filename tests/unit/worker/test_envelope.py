"""The ``by_rollout`` envelope: its one wire form, and taking it (dedupe, validation, dead
letters, refusal), without a broker."""

from __future__ import annotations

import msgspec
import pytest

from monitor.worker.envelope import (
    POSITION_SCALE,
    SELF_SOURCE,
    STRICT,
    Envelope,
    encode_bundle,
    encode_envelope,
    encode_whole,
    envelopes_of,
)
from monitor.worker.take import Refusal, Taken, take_all, take_record
from topics.codec import MAX_BATCH_EVENTS, Decoded, Decoder, encode_batch, encode_event
from topics.deadletters import NO_SOURCE, Source
from topics.events import Metric

DEC = Decoder()
Marks = dict[str, dict[int, int]]


def metric(rid: str, ts: float, value: float = 0.01) -> Metric:
    return Metric(v=1, rollout_id=rid, variant="canary", ts=ts, name="error_rate", value=value)


def take(data: bytes, hwm: Marks, decoder: Decoder, topic: str, now: float | None = None) -> Taken:
    """The one envelope of a record that holds one."""
    (taken,) = take_all(data, hwm, decoder, topic, now)
    return taken


def decode_envelope(data: bytes) -> Envelope[Metric]:
    (envelope,) = envelopes_of(STRICT.decode(data))
    return envelope  # type: ignore[return-value]  # the test's events are all metrics


def test_envelope_carries_producer_bytes_and_positions() -> None:
    events = [metric("r1", 1.7e9 + i) for i in range(3)]
    data = encode_envelope(2, [10, 11, 12], [encode_event(e) for e in events], 123, "r1")
    envelope = decode_envelope(data)
    assert envelope == Envelope(src=2, offsets=[10, 11, 12], events=events, kts=123, rid="r1")


def test_envelope_with_mismatched_offsets_is_refused() -> None:
    data = encode_envelope(0, [1], [encode_event(metric("r1", 1.7e9))] * 2, 0, "r1")
    with pytest.raises(ValueError, match="offsets"):
        decode_envelope(data)
    with pytest.raises(ValueError, match="offsets"):
        take(data, {}, Decoder(), "t")


@pytest.mark.parametrize("bad_event", [False, True])
def test_a_bundle_with_a_broken_envelope_is_refused_whole_and_changes_nothing(
    bad_event: bool,
) -> None:
    good = encode_envelope(0, [1], [encode_event(metric("a", 1.7e9))], 0, "a")
    raw = b'{"kind":"metric"}' if bad_event else encode_event(metric("b", 1.7e9))
    broken = encode_envelope(0, [3, 2], [raw] * 2, 0, "b")  # positions go back
    hwm: dict[str, dict[int, int]] = {}
    with pytest.raises(ValueError, match="increasing"):
        take_all(encode_bundle([good, broken]), hwm, DEC, "t")
    assert hwm == {}


def test_a_bundle_is_taken_envelope_by_envelope_in_order() -> None:
    first = [metric("a", 1.7e9 + i) for i in range(3)]
    envelopes = [
        encode_envelope(0, [1, 2], [encode_event(e) for e in first[:2]], 7, "a"),
        encode_envelope(1, [4], [encode_event(metric("b", 1.7e9, value=0.5))], 8, "b"),
        encode_envelope(0, [2, 3], [encode_event(e) for e in first[1:]], 9, "a"),  # 2 repeats
        encode_envelope(1, [5], [b'{"kind":"metric","rollout_id":"b"}'], 9, "b"),
    ]
    hwm: dict[str, dict[int, int]] = {}
    taken = take_all(encode_bundle(envelopes), hwm, DEC, "t")
    assert [(t.rid, t.events, t.kts) for t in taken[:3]] == [
        ("a", first[:2], 7),
        ("b", [metric("b", 1.7e9, value=0.5)], 8),
        ("a", first[2:], 9),
    ]
    assert [(d.reason, d.partition, d.offset) for d in taken[3].dead] == [("missing_field", 1, 0)]
    assert hwm == {"a": {0: 3}, "b": {1: 5}}
    assert all(not t.events for t in take_all(encode_bundle(envelopes), hwm, DEC, "t"))


def test_envelope_whose_positions_go_back_is_refused_and_changes_nothing() -> None:
    data = encode_envelope(0, [5, 4], [encode_event(metric("r1", 1.7e9))] * 2, 0, "r1")
    hwm: dict[str, dict[int, int]] = {}
    with pytest.raises(ValueError, match="increasing"):
        take(data, hwm, Decoder(), "t")
    assert hwm == {}


def test_take_drops_repeats_per_rollout_and_source() -> None:
    raw = encode_event(metric("a", 1.7e9))
    hwm: dict[str, dict[int, int]] = {}
    assert len(take(encode_envelope(0, [100, 102], [raw] * 2, 0, "a"), hwm, DEC, "t").events) == 2
    # the same round forwarded again after an ingest crash, plus one new event
    again = encode_envelope(0, [100, 102, 104], [raw] * 3, 0, "a")
    assert len(take(again, hwm, DEC, "t").events) == 1
    assert take(again, hwm, DEC, "t").events == []
    assert len(take(encode_envelope(1, [100], [raw], 0, "a"), hwm, DEC, "t").events) == 1
    assert hwm == {"a": {0: 104, 1: 100}}


def test_a_batch_forwarded_whole_is_taken_from_its_first_position_on() -> None:
    events = [metric("a", 1.7e9 + i) for i in range(4)]
    batch = encode_batch(events, producer="gw 1")  # a label with a space: names looked at
    base = 9 * POSITION_SCALE
    hwm: dict[str, dict[int, int]] = {"a": {0: base + 1}}  # the first two were applied
    taken = take_all(
        encode_bundle([encode_whole(0, base, batch, 5, "a", prev=base + 1)]), hwm, DEC, "t"
    )
    assert [(t.rid, t.events, t.kts, t.dead) for t in taken] == [("a", events[2:], 5, [])]
    assert hwm == {"a": {0: base + 3}}
    assert take(encode_whole(0, base, batch, 5, "a"), hwm, DEC, "t").events == []
    gap = take(encode_whole(0, base + POSITION_SCALE, batch, 6, "a", prev=base + 7), hwm, DEC, "t")
    assert gap.gap and hwm == {"a": {0: base + 3}}


def test_a_batch_forwarded_whole_with_bad_events_keeps_its_good_ones() -> None:
    good = encode_event(metric("a", 1.7e9))
    batch = b'{"kind":"batch","v":1,"events":[%s,{"kind":"metric","v":1},%s]}' % (good, good)
    out = take(encode_whole(2, 3 * POSITION_SCALE, batch, 0, "a"), {}, DEC, "t")
    assert out.events == [metric("a", 1.7e9)] * 2
    assert [(d.reason, d.partition, d.offset, d.index) for d in out.dead] == [
        ("missing_field", 2, 3, 1)
    ]


@pytest.mark.parametrize(
    ("envelope", "error"),
    [
        (b'{"src":0,"batched":true,"first":0,"batch":%s}', "required field `rid`"),
        (b'{"src":0,"rid":"a","batched":true,"batch":%s}', "first event"),
        (b'{"src":0,"rid":"a","first":0,"batch":%s}', "events of its own"),
        (b'{"src":0,"rid":"a","batched":true,"first":0,"offsets":[0],"batch":%s}', "own"),
        (b'{"src":0,"rid":"a","batched":true,"first":0,"batch":%s}', "version 2"),
    ],
)
def test_a_whole_batch_not_written_by_an_ingest_is_refused(envelope: bytes, error: str) -> None:
    batch = encode_batch([metric("a", 1.7e9)])
    if error == "version 2":
        batch = batch.replace(b'"v":1,"events"', b'"v":2,"events"')
    hwm: dict[str, dict[int, int]] = {}
    with pytest.raises(ValueError, match=error):
        take_all(envelope % batch, hwm, DEC, "t")
    assert hwm == {}


def test_take_refuses_an_event_of_another_rollout() -> None:
    raw = encode_event(metric("b", 1.7e9))
    out = take(encode_envelope(3, [7 * POSITION_SCALE], [raw], 0, "a"), {}, DEC, "tel")
    assert out.events == []
    assert [(d.reason, d.topic, d.partition, d.offset) for d in out.dead] == [
        ("invalid", "tel", 3, 7)
    ]


def test_take_judges_the_clock_only_when_given_now() -> None:
    raw = encode_event(metric("a", 1.7e9))
    data = encode_envelope(0, [1], [raw], 0, "a")
    assert len(take(data, {}, DEC, "t").events) == 1
    out = take(data, {}, DEC, "t", now=1.7e9 - 10)
    assert out.events == [] and [d.reason for d in out.dead] == ["future_timestamp"]


def test_repeats_are_dropped_per_rollout_and_source_when_rollouts_interleave() -> None:
    a, b = encode_event(metric("a", 1.7e9)), encode_event(metric("b", 1.7e9))
    hwm: Marks = {}
    # one round: a's envelope then b's, positions interleaved in the source partition
    round_ = [encode_envelope(0, [100, 102], [a, a], 0, "a")]
    round_.append(encode_envelope(0, [101, 103], [b, b], 0, "b"))
    assert [len(t.events) for t in take_all(encode_bundle(round_), hwm, DEC, "t")] == [2, 2]
    # the same round forwarded again, plus new events
    assert (
        len(take(encode_envelope(0, [100, 102, 104], [a] * 3, 0, "a"), hwm, DEC, "t").events) == 1
    )
    assert len(take(encode_envelope(1, [100], [a], 0, "a"), hwm, DEC, "t").events) == 1
    assert hwm == {"a": {0: 104, 1: 100}, "b": {0: 103}}


def test_events_of_one_batch_message_have_distinct_positions() -> None:
    assert MAX_BATCH_EVENTS <= POSITION_SCALE
    raw = encode_event(metric("a", 1.7e9))
    positions = [7 * POSITION_SCALE + i for i in range(3)]
    data = encode_envelope(0, positions, [raw] * 3, 0, "a", batched=True)
    assert len(take(data, {}, DEC, "t").events) == 3


def test_worker_made_events_are_never_deduplicated_nor_judged_by_the_clock() -> None:
    raw = encode_event(metric("a", 1.7e9))
    hwm: Marks = {"a": {0: 10**9}}
    data = encode_envelope(SELF_SOURCE, [0], [raw], 0, "a")
    assert len(take(data, hwm, DEC, "t", now=1.7e9 + 10**6).events) == 1
    assert len(take(data, hwm, DEC, "t").events) == 1


def test_an_envelope_without_rid_is_refused_whole() -> None:
    """The form an ingest that validated before forwarding wrote (never released): nothing
    tells which rollout's marks it may move, so it is refused, not guessed at."""
    raw = encode_event(metric("a", 1.7e9))
    data = b'{"src":0,"offsets":[5],"kts":0,"events":[%s]}' % raw
    hwm: Marks = {}
    refusal = take_record(data, hwm, DEC, "t", None, "by_rollout record")
    assert refusal == Refusal("invalid", "by_rollout record: Object missing required field `rid`")
    assert hwm == {}


DEEP = b'{"src":0,"rid":"a","first":0,"batch":{"events":[],"v":%s%s}}' % (
    b"[" * 100_000,
    b"]" * 100_000,
)


@pytest.mark.parametrize(
    ("value", "reason", "text"),
    [
        (None, "invalid", "by_rollout record without a value"),
        (b"not json", "invalid", "by_rollout record: JSON is malformed"),
        (DEEP, "too_deep", "by_rollout record nested too deep"),
        (b'{"src":0,"rid":"a","offsets":[2,1],"events":[{},{}]}', "invalid", "increasing"),
    ],
)
def test_a_record_no_ingest_wrote_is_one_dead_letter_and_changes_nothing(
    value: bytes | None, reason: str, text: str
) -> None:
    hwm: Marks = {}
    refusal = take_record(value, hwm, DEC, "t", None, "by_rollout record")
    assert isinstance(refusal, Refusal) and refusal.reason == reason
    assert text in refusal.message and hwm == {}


class CountingDecoder(Decoder):
    """Counts the events judged one by one (the fallback path)."""

    judged = 0

    def decode(self, data: bytes, source: Source = NO_SOURCE, now: float | None = None) -> Decoded:
        self.judged += 1
        return super().decode(data, source, now)

    def decode_item(self, data: bytes, *args: object) -> Decoded:
        self.judged += 1
        return super().decode_item(data, *args)  # type: ignore[arg-type]  # passed through


def test_only_the_envelope_holding_a_bad_event_is_judged_event_by_event() -> None:
    good = [encode_event(metric("a", 1.7e9 + i)) for i in range(3)]
    decoder = CountingDecoder()
    clean = encode_bundle(
        [encode_envelope(0, [1, 2, 3], good, 0, "a"), encode_envelope(1, [1], good[:1], 0, "a")]
    )
    assert [len(t.events) for t in take_all(clean, {}, decoder, "t")] == [3, 1]
    assert decoder.judged == 0  # one strict pass, nothing looked at again
    # a bad event in the second envelope: only its new events are judged one by one (once
    # each); the first envelope's pass their own strict pass, its repeat is not looked at
    bad = b'{"kind":"metric","rollout_id":"b"}'
    hwm: Marks = {"a": {0: 1}}
    dirty = encode_bundle(
        [
            encode_envelope(0, [1, 2, 3], good, 0, "a"),  # position 1 applied before
            encode_envelope(1, [7, 8], [good[0], bad], 0, "a"),
        ]
    )
    taken = take_all(dirty, hwm, decoder, "t")
    assert [(len(t.events), len(t.dead)) for t in taken] == [(2, 0), (1, 1)]
    assert decoder.judged == 2
    # a check the strict pass cannot make (the rollout) fails: only that envelope is judged
    decoder.judged = 0
    stray = encode_bundle(
        [
            encode_envelope(0, [9], good[:1], 0, "a"),
            encode_envelope(0, [10, 11], [encode_event(metric("b", 1.7e9))] * 2, 0, "a"),
        ]
    )
    taken = take_all(stray, hwm, decoder, "t")
    assert [(len(t.events), [d.reason for d in t.dead]) for t in taken] == [
        (1, []),
        (0, ["invalid", "invalid"]),
    ]
    assert decoder.judged == 2


# Records as the ingest and processor before this envelope code wrote them to ``by_rollout``
# (captured from its encoders): a worker reads them during a rolling upgrade, and writes the
# same bytes, so the older workers still running read what it writes.
OLDER_BUNDLE = (
    b'[{"src":3,"rid":"r1","prev":147456,"offsets":[163840,180224],"kts":1700000000123,'
    b'"events":[{"kind":"metric","name":"error_rate","value":0.01,"v":1,"rollout_id":"r1",'
    b'"variant":"canary","ts":1700000001.0},{"kind":"metric","name":"error_rate","value":0.02,'
    b'"v":1,"rollout_id":"r1","variant":"canary","ts":1700000002.0}]},{"src":3,"rid":"r1",'
    b'"batched":true,"prev":180224,"first":196608,"kts":1700000000124,"batch":{"kind":"batch",'
    b'"v":1,"events":[{"kind":"metric","name":"error_rate","value":0.03,"v":1,"rollout_id":"r1",'
    b'"variant":"canary","ts":1700000003.0},{"kind":"metric","name":"error_rate","value":0.04,'
    b'"v":1,"rollout_id":"r1","variant":"canary","ts":1700000004.0}],"producer":"gw"}}]'
)
OLDER_ITEMS = (
    b'{"src":0,"rid":"r1","batched":true,"offsets":[81921],"kts":7,"events":[{"kind":"metric",'
    b'"name":"error_rate","value":0.05,"v":1,"rollout_id":"r1","variant":"canary",'
    b'"ts":1700000005.0}]}'
)


def older_metric(i: int) -> Metric:
    return Metric(
        v=1, rollout_id="r1", variant="canary", ts=1.7e9 + i, name="error_rate", value=0.01 * i
    )


def test_records_of_the_previous_release_are_read_and_written_alike() -> None:
    hwm: Marks = {"r1": {3: 9 * POSITION_SCALE}}
    taken = take_all(OLDER_BUNDLE, hwm, DEC, "t")
    assert [(t.rid, t.events, t.kts, t.gap) for t in taken] == [
        ("r1", [older_metric(1), older_metric(2)], 1700000000123, False),
        ("r1", [older_metric(3), older_metric(4)], 1700000000124, False),
    ]
    assert hwm == {"r1": {3: 12 * POSITION_SCALE + 1}}
    assert take(OLDER_ITEMS, hwm, DEC, "t").events == [older_metric(5)]
    # and this release's encoders write exactly those bytes
    a = encode_envelope(
        3,
        [10 * POSITION_SCALE, 11 * POSITION_SCALE],
        [encode_event(older_metric(1)), encode_event(older_metric(2))],
        1700000000123,
        "r1",
        prev=9 * POSITION_SCALE,
    )
    batch = encode_batch([older_metric(3), older_metric(4)], producer="gw")
    b = encode_whole(3, 12 * POSITION_SCALE, batch, 1700000000124, "r1", prev=11 * POSITION_SCALE)
    assert encode_bundle([a, b]) == OLDER_BUNDLE
    items = encode_envelope(
        0, [5 * POSITION_SCALE + 1], [encode_event(older_metric(5))], 7, "r1", batched=True
    )
    assert items == OLDER_ITEMS


def test_the_strict_and_the_raw_reading_see_the_same_envelopes() -> None:
    raw = msgspec.json.decode(OLDER_BUNDLE)
    strict = envelopes_of(STRICT.decode(OLDER_BUNDLE))
    assert [e.body()[0] for e in strict] == [
        [163840, 180224],
        range(196608, 196610),
    ]
    assert [e.rid for e in strict] == [r["rid"] for r in raw]
