"""Good and bad messages through a real Kafka broker: events decode, bad input lands in the
dead-letter topic with its reason and source offset, nothing is lost or counted twice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
from kafka import KafkaConsumer, KafkaProducer

from topics.codec import Decoder, encode_batch, encode_event
from topics.config import TopicsConfig
from topics.deadletters import Source, decode_dead_letter, encode_dead_letter
from topics.events import Metric, Order

TS = 1_700_000_000.0


def _read_all(bootstrap: str, topic: str, expected: int, timeout_s: float = 20) -> list:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=int(timeout_s * 1000),
    )
    records = []
    try:
        for record in consumer:
            records.append(record)
            if len(records) >= expected:
                break
    finally:
        consumer.close()
    return records


def test_good_and_bad_messages_round_trip_through_kafka(
    bootstrap: str, topics_config: TopicsConfig
) -> None:
    good = [
        encode_event(
            Order(
                v=1,
                rollout_id="r1",
                variant="canary",
                ts=TS + i,
                order_id=f"o{i}",
                status="filled",
                latency_ms=10.0 + i,
            )
        )
        for i in range(5)
    ]
    batch = encode_batch(
        [
            Metric(v=1, rollout_id="r2", variant="baseline", ts=TS + i, name="cpu", value=i)
            for i in range(100)
        ]
    )
    bad = [b"not json", b'{"kind":"order","v":7}', orjson.dumps([1]), b"\x00" * 10]
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for value in [*good, batch, *bad]:
        producer.send(topics_config.telemetry, value)
    producer.flush()

    decoder = Decoder()
    events, dead = [], []
    for record in _read_all(bootstrap, topics_config.telemetry, len(good) + 1 + len(bad)):
        out = decoder.decode(record.value, Source(record.topic, record.partition, record.offset))
        events += out.events
        dead += out.dead
        for letter in out.dead:
            producer.send(topics_config.dlq, encode_dead_letter(letter), key=letter.reason.encode())
    producer.flush()
    producer.close()

    assert len(events) == 105
    assert {e.rollout_id for e in events} == {"r1", "r2"}
    assert sorted(d.reason for d in dead) == [
        "not_json",
        "not_json",
        "unknown_version",
        "wrong_type",
    ]

    letters = [decode_dead_letter(r.value) for r in _read_all(bootstrap, topics_config.dlq, 4)]
    assert sorted(x.original for x in letters) == sorted(bad)
    assert all(x.topic == topics_config.telemetry and x.offset >= 0 for x in letters)


def test_topics_cli_creates_idempotently_and_describes(bootstrap: str, tmp_path: Path) -> None:
    env = {**os.environ, "ROLLGUARD_CACHE": str(tmp_path)}
    cmd = [sys.executable, "-m", "monitor.cli", "topics"]
    args = ["--bootstrap", bootstrap, "--topic-prefix", "cli", "--partitions", "3"]
    first = subprocess.run(
        [*cmd, "create", *args], capture_output=True, text=True, env=env, check=False
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("yes") == 6  # telemetry, by-rollout, control, dlq, state, status
    second = subprocess.run(
        [*cmd, "create", *args], capture_output=True, text=True, env=env, check=False
    )
    assert second.returncode == 0 and "yes" not in second.stdout
    described = subprocess.run(
        [*cmd, "describe", "--bootstrap", bootstrap, "--topic-prefix", "cli"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert described.returncode == 0
    for name in (
        "cli.telemetry",
        "cli.control",
        "cli.dlq",
        "cli.state",
        "cli.by-rollout",
        "cli.status",
    ):
        assert name in described.stdout
    assert "cleanup.policy=compact" in described.stdout

    missing = subprocess.run(
        [*cmd, "describe", "--bootstrap", bootstrap, "--topic-prefix", "nothing-here"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert missing.returncode == 1 and "no rollguard topics" in missing.stderr


def test_cli_without_a_broker_says_what_to_do(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ROLLGUARD_BOOTSTRAP"}
    env["ROLLGUARD_CACHE"] = str(tmp_path)
    status = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "dev", "broker", "status"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert status.returncode == 1 and "not running" in status.stdout
    create = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "topics", "create"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert create.returncode == 2 and "rollguard dev broker start" in create.stderr
