"""The simulator's Kafka sink against a real broker: every event arrives once, valid, keyed by
rollout, in order per rollout; single-event messages and batch envelopes alike; paced."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from monitor.sim.demo import demo_streams
from monitor.sim.flow import RolloutSpec
from monitor.sim.generate import Simulation
from monitor.sim.scenarios import build_scenario
from monitor.sim.sinks import Pacer, kafka_producer, produce
from topics.codec import Decoder
from topics.config import TopicsConfig
from topics.events import Event


def _sim(seconds: float) -> Simulation:
    sim = demo_streams(
        duration_s=700.0, blip_at_s=100.0, regression_at_s=400.0, shadow_at_s=300.0, raw=True
    )
    sim.duration_s = seconds
    return sim


def _consume(bootstrap: str, topic: str, messages: int) -> list[tuple[bytes, bytes]]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=20_000,
    )
    out: list[tuple[bytes, bytes]] = []
    try:
        for record in consumer:
            out.append((record.key, record.value))
            if len(out) >= messages:
                break
    finally:
        consumer.close()
    return out


@pytest.mark.parametrize("batch", [0, 500])
def test_every_event_arrives_once_valid_and_in_order_per_rollout(
    bootstrap: str, topics_config: TopicsConfig, batch: int
) -> None:
    expected: list[Event] = [e for s in _sim(15.0).slices() for e in s]
    producer = kafka_producer(bootstrap)
    try:
        stats = produce(_sim(15.0), producer, topics_config.telemetry, batch=batch)
    finally:
        producer.close()
    assert stats.events == len(expected)
    records = _consume(bootstrap, topics_config.telemetry, stats.messages)
    assert len(records) == stats.messages
    decoder = Decoder()
    got: list[Event] = []
    for key, value in records:
        out = decoder.decode(value)
        assert out.dead == []
        assert {e.rollout_id.encode() for e in out.events} == {key}
        got.extend(out.events)
    assert len(got) == len(expected)
    for rid in {e.rollout_id for e in expected}:
        # raw twins decode to the validated contract events: compare their JSON
        want = [e for e in expected if e.rollout_id == rid]
        have = [e for e in got if e.rollout_id == rid]
        assert [(e.ts, type(e).__name__.removeprefix("Raw")) for e in want] == [
            (e.ts, type(e).__name__) for e in have
        ]


def test_speed_paces_event_time_against_the_wall_clock(
    bootstrap: str, topics_config: TopicsConfig
) -> None:
    producer = kafka_producer(bootstrap)
    started = time.monotonic()
    try:
        stats = produce(
            _sim(20.0), producer, topics_config.telemetry, pacer=Pacer(speed=10.0), batch=200
        )
    finally:
        producer.close()
    elapsed = time.monotonic() - started
    # 20 s of event time at 10x: about 2 s of wall time, not instant and not real time
    assert 1.7 < elapsed < 6.0, elapsed
    assert stats.events > 0


def test_cli_simulate_to_kafka(bootstrap: str, topics_config: TopicsConfig, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from monitor.cli import app
    from tests.keys import RING, key_env
    from topics.control_plane import ControlPlaneGate

    env = key_env(tmp_path / "keys")
    unsigned = CliRunner().invoke(
        app,
        ["simulate", "--kafka", "-b", bootstrap],
        env=env | {"ROLLGUARD_OPERATOR_KEY_FILE": ""},
    )
    assert unsigned.exit_code == 2 and "no operator key" in unsigned.output
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "-s",
            "healthy",
            "--duration",
            "5",
            "--kafka",
            "-b",
            bootstrap,
            "--topic",
            topics_config.telemetry,
            "--batch",
            "100",
            "--speed",
            "50",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    expected = sum(
        len(s)
        for s in Simulation(
            [RolloutSpec("healthy", build_scenario("healthy"), plan="bridge-routing-v2")],
            duration_s=5.0,
        ).slices()
    )
    found = re.search(r"([\d,]+) events in ([\d,]+) messages", result.output)
    assert found, result.output
    assert int(found[1].replace(",", "")) == expected
    records = _consume(bootstrap, topics_config.telemetry, int(found[2].replace(",", "")))
    events = [e for _, v in records for e in Decoder().decode(v).events]
    assert len(events) == expected
    gate = ControlPlaneGate(RING)  # the plan events are signed: a worker takes them
    screens = [gate.screen(v) for _, v in records]
    assert any(screen is not None for screen in screens)
    assert all(screen is None or screen.refused == [] for screen in screens)
