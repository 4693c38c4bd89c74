"""The broker restarts mid-stream; a flood of malformed input: decisions are unchanged."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor import devbroker
from tests.integration.worker.support import (
    _send_all,
    broker_scenario,
    offline,
    produce,
    read_control,
    read_topic,
    start_worker,
    wait_for,
)
from tests.integration.worker.test_fleet import assert_same_decisions
from tests.keys import operator_signed
from topics.admin import create_topics
from topics.codec import encode_event
from topics.config import TopicsConfig
from topics.deadletters import decode_dead_letter


@pytest.fixture
def own_broker() -> Iterator[list[devbroker.Broker]]:
    """A broker of this test alone: killing the session broker would disturb the others.
    A one-item list, so the test can swap in the restarted broker for the clean-up."""
    holder = [devbroker.start()]
    try:
        yield holder
    finally:
        holder[0].stop()


def test_broker_restart_mid_stream(own_broker: list[devbroker.Broker], tmp_path: Path) -> None:
    broker = own_broker[0]
    topics = TopicsConfig(partitions=4).with_prefix("restart")
    create_topics(broker.bootstrap, topics)
    # ra rolls back at ~66 s, before the restart (half the events, ~119 s); rb's latency
    # rule is pending across it and rolls back at ~146 s
    events = broker_scenario({"ra": 20.0, "rb": 100.0, "rc": None}, seconds=240)
    expected = offline(events)
    assert {c.rollout_id for c in expected} == {"ra", "rb"}  # the scenario does regress
    worker = start_worker(broker.bootstrap, topics, "w0", tmp_path)
    try:
        worker.wait_healthy()
        half = len(events) // 2
        produce(broker.bootstrap, topics.telemetry, events[:half])
        first = [c for c in expected if c.issued_at < events[half].ts]
        read_control(broker.bootstrap, topics, lambda log: len(log.distinct()) >= len(first))

        broker.kill()
        own_broker[0] = broker = devbroker.restart(broker)
        produce(broker.bootstrap, topics.telemetry, events[half:], batch_size=25)  # envelopes
        log = read_control(
            broker.bootstrap, topics, lambda log: len(log.distinct()) >= len(expected), 120
        )
        assert_same_decisions(log, expected)
        assert worker.proc.poll() is None, "the worker must ride through, not exit"
        wait_for(lambda: worker.get("/healthz")[0] == 200, 30)
    finally:
        worker.stop()


JUNK = [
    (b"not json at all", "not_json"),
    (b"[1, 2, 3]", "wrong_type"),
    (
        b'{"kind":"metric","rollout_id":"r1","variant":"canary","ts":1763000000,"name":"x","value":1}',
        "missing_field",
    ),
    (
        b'{"kind":"metric","v":9,"rollout_id":"r1","variant":"canary","ts":1763000000,"name":"x",'
        b'"value":1}',
        "unknown_version",
    ),
    (
        b'{"kind":"metric","v":1,"rollout_id":"r1","variant":"canary","ts":1763000000,"name":"error_rate",'
        b'"value":1e300}',
        "absurd_value",
    ),
    (
        b'{"kind":"metric","v":1,"rollout_id":"r1","variant":"canary","ts":12,"name":"error_rate",'
        b'"value":0.9}',
        "bad_timestamp",
    ),
    (
        b'{"kind":"order","v":1,"rollout_id":"r1","variant":"nope","ts":1763000000,"order_id":"o",'
        b'"status":"filled"}',
        "unknown_enum",
    ),
    # poison: 1,000 nested brackets once wedged the ingest forever behind a green /healthz
    (
        b'{"kind":"metric","v":1,"rollout_id":"ra","x":' + b"[" * 1000 + b"]" * 1000 + b"}",
        "too_deep",
    ),
    (b"[" * 1000 + b"]" * 1000, "too_deep"),
    (
        b'{"kind":"metric","v":1,"rollout_id":"ra","variant":"canary","ts":%d,"name":"error_rate",'
        b'"value":0.9}' % (time.time() + 86_400 * 300),
        "future_timestamp",
    ),
    (
        b'{"kind":"metric","v":1,"rollout_id":"ra\\n","variant":"canary","ts":1763000000,'
        b'"name":"error_rate","value":0.9}',
        "invalid",
    ),
    (b'{"kind":"metric","v":1,"rollout_id":"ra","value":NaN}', "not_json"),
    (b'{"kind":"metric","rollout_id":"ra","note":"\xff\xfe"}', "not_json"),
]

WHOLE = {"too_deep", "not_json"}  # refused before the events of their message are told apart

GHOST = (
    b'{"kind":"metric","v":1,"rollout_id":"ghost","variant":"canary","ts":%d,"name":"x","value":1}'
)


def test_malformed_flood_goes_to_dlq_and_changes_nothing(
    bootstrap: str, topics_config: TopicsConfig, tmp_path: Path
) -> None:
    events = broker_scenario({"ra": 20.0, "rb": None}, seconds=160)
    expected = offline(events)
    assert {c.rollout_id for c in expected} == {"ra"}  # decisions that the junk must not change
    junk = itertools.cycle(JUNK)
    sent: Counter[str] = Counter()

    def every_third(i: int) -> bytes | None:
        if i % 3 == 1:  # valid, but of a rollout no plan registered: the core ignores it
            return GHOST % (1_767_225_600 + i // 100)
        if i % 3:
            return None
        raw, reason = next(junk)
        sent[reason] += 1
        return raw

    worker = start_worker(bootstrap, topics_config, "w0", tmp_path)
    try:
        worker.wait_healthy()
        produce(bootstrap, topics_config.telemetry, events, extra=every_third)
        log = read_control(
            bootstrap, topics_config, lambda log: len(log.distinct()) >= len(expected)
        )
        assert_same_decisions(log, expected)
        total = sum(sent.values())
        dead = read_topic(bootstrap, topics_config.dlq, lambda records: len(records) >= total)
        letters = [decode_dead_letter(r.value) for r in dead]
        assert Counter(d.reason for d in letters) == sent
        assert all(d.topic == topics_config.telemetry and d.offset >= 0 for d in letters)
        assert worker.get("/healthz")[0] == 200
        assert worker.log_path.stat().st_size < 200_000, "a bad message is not a log line"
    finally:
        worker.stop()


def test_bad_events_inside_batch_envelopes_go_to_dlq_and_their_neighbours_count(
    bootstrap: str, topics_config: TopicsConfig, tmp_path: Path
) -> None:
    """Events are validated by the processor, after the ingest routed them unread: a bad
    event of a batch still reaches the DLQ with its reason and index, and the good events of
    the same batch still decide. ``[1, 2, 3]`` (not an object, so not routable) is judged by
    the ingest instead; both paths are exercised."""
    events = broker_scenario({"ra": 20.0, "rb": None}, seconds=160)
    expected = offline(events)
    assert {c.rollout_id for c in expected} == {"ra"}
    # bad events, not bad JSON: a batch nested too deep or unreadable is one dead letter whole
    per_event = [raw for raw, reason in JUNK if raw.startswith(b"{") and reason not in WHOLE]
    junk = itertools.cycle([*per_event, b"[1, 2, 3]"])
    reasons = dict(JUNK)
    sent: Counter[tuple[str, int, int]] = Counter()  # reason, offset, index in the batch
    batches: list[bytes] = []
    for offset, start in enumerate(range(0, len(events), 40)):  # one key: offset = batch
        items = [encode_event(e) for e in operator_signed(events[start : start + 40])]
        bad = next(junk)
        sent[(reasons[bad], offset, len(items) // 2)] += 1
        items.insert(len(items) // 2, bad)
        batches.append(b'{"kind":"batch","v":1,"events":[' + b",".join(items) + b"]}")
    worker = start_worker(bootstrap, topics_config, "w0", tmp_path)
    try:
        worker.wait_healthy()
        asyncio.run(_send_all(bootstrap, topics_config.telemetry, [(b"k", b) for b in batches]))
        log = read_control(
            bootstrap, topics_config, lambda log: len(log.distinct()) >= len(expected)
        )
        assert_same_decisions(log, expected)
        total = sum(sent.values())
        dead = read_topic(bootstrap, topics_config.dlq, lambda records: len(records) >= total)
        letters = [decode_dead_letter(r.value) for r in dead]
        assert Counter((d.reason, d.offset, d.index) for d in letters) == sent
        assert all(d.topic == topics_config.telemetry for d in letters)
    finally:
        worker.stop()
