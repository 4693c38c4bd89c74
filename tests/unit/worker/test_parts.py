"""The worker's pure parts, without a broker: envelopes, dedupe, chunking, checkpoint
assembly, settings validation, and the HTTP surface over a small core."""

from __future__ import annotations

import asyncio
import hashlib

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from monitor.errors import ConfigError
from monitor.metrics import WorkerMetrics
from monitor.worker.checkpoint import (
    Checkpoint,
    _Scan,
    chunk_key,
    marker_key,
    pack_state,
    unpack_state,
)
from monitor.worker.envelope import (
    POSITION_SCALE,
    SELF_SOURCE,
    Envelope,
    decode_envelope,
    encode_bundle,
    encode_envelope,
    encode_whole,
    fresh_events,
    take,
    take_all,
)
from monitor.worker.http import build_web_app
from monitor.worker.routing import ENVELOPE_MAX_BYTES, _chunks, _Group
from monitor.worker.settings import WorkerSettings
from tests.integration.worker.threshold_core import ThresholdCore
from tests.keys import RING as TRUSTED
from tests.keys import WORKER
from topics.codec import MAX_BATCH_EVENTS, Decoder, encode_batch, encode_event
from topics.events import Metric

DEC = Decoder()


def metric(rid: str, ts: float, value: float = 0.01) -> Metric:
    return Metric(v=1, rollout_id=rid, variant="canary", ts=ts, name="error_rate", value=value)


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
        (b'{"src":0,"batched":true,"first":0,"batch":%s}', "without rid"),
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


def test_repeats_in_envelopes_of_an_older_ingest_are_dropped_per_rollout_and_source() -> None:
    a, b = metric("a", 1.7e9), metric("b", 1.7e9)
    hwm: dict[str, dict[int, int]] = {}
    # one round: a's envelope then b's, positions interleaved in the source partition
    assert len(fresh_events(Envelope(0, [100, 102], [a, a]), hwm)) == 2
    assert len(fresh_events(Envelope(0, [101, 103], [b, b]), hwm)) == 2  # b is not a
    # the same round forwarded again, plus new events
    assert len(fresh_events(Envelope(0, [100, 102, 104], [a, a, a]), hwm)) == 1
    assert len(fresh_events(Envelope(1, [100], [a]), hwm)) == 1  # another source partition
    assert hwm == {"a": {0: 104, 1: 100}, "b": {0: 103}}


def test_events_of_one_batch_message_have_distinct_positions() -> None:
    assert MAX_BATCH_EVENTS <= POSITION_SCALE
    e = metric("a", 1.7e9)
    hwm: dict[str, dict[int, int]] = {}
    positions = [7 * POSITION_SCALE + i for i in range(3)]
    assert len(fresh_events(Envelope(0, positions, [e, e, e]), hwm)) == 3


def test_worker_made_events_are_never_deduplicated() -> None:
    e = metric("a", 1.7e9)
    hwm: dict[str, dict[int, int]] = {"a": {0: 10**9}}
    assert len(fresh_events(Envelope(SELF_SOURCE, [0], [e]), hwm)) == 1


def test_chunks_respect_event_count_and_bytes() -> None:
    assert _chunks([b"x"] * 5, 2) == [(0, 2), (2, 4), (4, 5)]
    big = b"y" * (ENVELOPE_MAX_BYTES // 2)
    assert _chunks([big, big, big], 1000) == [(0, 1), (1, 2), (2, 3)]


def test_a_group_keeps_runs_of_one_kind_of_message_in_read_order() -> None:
    group = _Group()
    group.add(range(0, 2), [b"a", b"b"], False, 1)
    group.add(range(16384, 16386), [b"c", b"d"], True, 2)
    group.add_whole(32768, 3, b"batch", 3)
    group.add(range(49152, 49153), [b"e"], True, 4)
    group.add(range(65536, 65537), [b"f"], True, 5)
    assert [(r.batched, list(r.offsets), r.raws, r.whole) for r in group.runs] == [
        (False, [0, 1], [b"a", b"b"], None),
        (True, [16384, 16385], [b"c", b"d"], None),
        (True, [32768, 32769, 32770], [], b"batch"),
        (True, [49152, 65536], [b"e", b"f"], None),
    ]
    assert group.kts == 5


def _records(q: int, prefix: str, checkpoint: Checkpoint, split: int) -> list[tuple[bytes, bytes]]:
    blob = checkpoint.encode()
    size = -(-len(blob) // split)
    parts = [blob[i : i + size] for i in range(0, len(blob), size)]
    marker = {"prefix": prefix, "chunks": len(parts), "sha256": hashlib.sha256(blob).hexdigest()}
    return [(chunk_key(q, prefix, i), p) for i, p in enumerate(parts)] + [
        (marker_key(q), orjson.dumps(marker))
    ]


def test_checkpoint_scan_takes_the_newest_complete_one() -> None:
    old = Checkpoint(3, 10, {"r1": {0: 5}}, {"r1": pack_state({"n": 1})})
    new = Checkpoint(3, 20, {"r1": {0: 9}, "r2": {1: 4}}, {"r1": pack_state({"n": 2})})
    scan = _Scan(3)
    for key, value in _records(3, "w-1", old, 2) + _records(3, "w-2", new, 3):
        scan.add(key, value)
    found = scan.result()
    assert found is not None and found[0].offset == 20 and found[1] == ("w-2", 3)
    assert unpack_state(found[0].states["r1"]) == {"n": 2}
    assert found[0].hwm == {"r1": {0: 9}, "r2": {1: 4}}  # r2: events but no core state


def test_checkpoint_scan_refuses_a_checkpoint_with_a_lost_chunk() -> None:
    records = _records(0, "w-1", Checkpoint(0, 5, {}, {}), 1)
    scan = _Scan(0)
    scan.add(*records[-1])  # the marker without its chunk
    assert scan.result() is None


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ConfigError, match="plan"):
        WorkerSettings(bootstrap="b:1", signing_key=WORKER, trusted_keys=TRUSTED)
    with pytest.raises(ConfigError, match="checkpoint"):
        WorkerSettings(
            bootstrap="b:1",
            signing_key=WORKER,
            trusted_keys=TRUSTED,
            core_factory="m:f",
            checkpoint_interval_s=0,
        )
    with pytest.raises(ConfigError, match="bootstrap"):
        WorkerSettings(bootstrap="", signing_key=WORKER, trusted_keys=TRUSTED, core_factory="m:f")


def test_http_surface_over_a_core() -> None:
    core = ThresholdCore()
    core.process([metric("r1", 1.7e9 + i, 0.2) for i in range(10)])
    metrics = WorkerMetrics("w1", "test")
    metrics.attach_core(lambda: core)
    app = build_web_app(core, metrics, lambda: {"ok": True})

    async def go() -> None:
        async with TestClient(TestServer(app)) as client:
            response = await client.get("/rollouts/r1")
            assert response.status == 200
            body = await response.json()
            assert body["verdict"] == "pause" and body["last_decisions"]
            assert (await client.get("/rollouts/zz")).status == 404
            assert (await client.get("/healthz")).status == 200
            text = await (await client.get("/metrics")).text()
            assert 'rollguard_rule_state{rollout="r1",rule="error_rate_high"} 2.0' in text
            assert 'rollguard_signal{rollout="r1"' in text

    asyncio.run(go())


def test_cli_refuses_to_start_without_its_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from monitor.cli import app

    for name in ("ROLLGUARD_SIGNING_KEY_FILE", "ROLLGUARD_TRUSTED_KEYS_FILE"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(
        app, ["worker", "--bootstrap", "127.0.0.1:1", "--core-factory", "x:y"]
    )
    assert result.exit_code == 2
    assert "needs its signing key" in result.output


def test_cli_refuses_hmac_keys_with_the_migration_note(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from monitor.cli import app

    monkeypatch.setenv("ROLLGUARD_SIGNING_KEYS", "k1=an-old-hmac-secret-0123")
    result = CliRunner().invoke(
        app, ["worker", "--bootstrap", "127.0.0.1:1", "--core-factory", "x:y"]
    )
    assert result.exit_code == 2
    assert "HMAC signing keys were removed" in result.output
    assert "an-old-hmac-secret" not in result.output


def test_a_worker_key_missing_from_its_ring_is_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from monitor.cli.worker import _warn_if_unverifiable
    from topics.keys import KeyRing, SigningKey

    other = SigningKey.generate(WORKER.key_id, "worker")  # same id, another key
    settings = WorkerSettings(
        bootstrap="b:1", signing_key=other, trusted_keys=TRUSTED, core_factory="m:f"
    )
    with caplog.at_level("WARNING"):
        _warn_if_unverifiable(settings)
    assert "will refuse this worker's commands" in caplog.text
    caplog.clear()
    ring = KeyRing([other.public(rollouts=("r*",))])
    _warn_if_unverifiable(WorkerSettings(bootstrap="b:1", signing_key=other, trusted_keys=ring,
                                         core_factory="m:f"))  # fmt: skip
    assert caplog.text == ""
