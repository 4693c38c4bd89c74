"""JSONL and Kafka sinks: the same events out, paced by event time and rate."""

from __future__ import annotations

import io
from typing import Any

import pytest
from typer.testing import CliRunner

from monitor.cli import app
from monitor.sim.demo import demo_streams
from monitor.sim.flow import RolloutSpec
from monitor.sim.generate import Simulation
from monitor.sim.scenarios import build_scenario
from monitor.sim.sinks import Pacer, anchored_start, produce, write_jsonl
from topics.codec import Decoder


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def test_pacer_replays_event_time_at_speed() -> None:
    fake = FakeClock()
    pacer = Pacer(speed=10.0, clock=fake.clock, sleep=fake.sleep)
    pacer.wait(1000.0, 1)
    pacer.wait(1010.0, 1)  # 10 s of event time = 1 s of wall time
    pacer.wait(1060.0, 1)
    assert fake.now == pytest.approx(106.0)


def test_pacer_caps_the_rate() -> None:
    fake = FakeClock()
    pacer = Pacer(rate=100.0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(10):
        pacer.wait(1000.0, 50)  # same event time: only the rate limits
    assert fake.now == pytest.approx(105.0)  # 500 events at 100/s


def test_anchored_compressed_stream_never_runs_ahead_of_the_wall_clock() -> None:
    now, duration, speed = 2_000_000_000.0, 1200.0, 20.0
    start = anchored_start(duration, speed, now)
    for wall in (0.0, 30.0, 60.0):  # wall seconds into the replay
        assert start + wall * speed <= now + wall + 1e-6


class RecordingProducer:
    """Stands in for kafka-python's producer at the boundary: records what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.flushed = False

    def send(self, topic: str, key: bytes, value: bytes) -> Any:
        self.sent.append((topic, key, value))

    def flush(self) -> None:
        self.flushed = True


def _sim() -> Simulation:
    return demo_streams(
        duration_s=700.0, blip_at_s=100.0, regression_at_s=400.0, shadow_at_s=300.0, raw=True
    )


@pytest.mark.parametrize("batch", [0, 250])
def test_produce_sends_every_event_once_keyed_by_rollout(batch: int) -> None:
    reference = _sim()
    reference.duration_s = 20.0
    expected = b"".join(write_jsonl_bytes(s) for s in reference.slices())
    producer = RecordingProducer()
    sim = _sim()
    sim.duration_s = 20.0
    stats = produce(sim, producer, "t.telemetry", batch=batch)
    assert producer.flushed
    decoder = Decoder()
    got = []
    for topic, key, value in producer.sent:
        assert topic == "t.telemetry"
        out = decoder.decode(value)
        assert out.dead == []
        assert {e.rollout_id.encode() for e in out.events} == {key}
        got.extend(out.events)
    assert stats.events == len(got) == expected.count(b"\n")
    assert (stats.messages == len(got)) == (batch == 0)
    # per rollout, the order of events is kept
    lines = [Decoder().decode(line).events[0] for line in expected.splitlines()]
    for rid in {e.rollout_id for e in lines}:
        assert [e for e in got if e.rollout_id == rid] == [e for e in lines if e.rollout_id == rid]


def write_jsonl_bytes(batch: list[Any]) -> bytes:
    buf = io.BytesIO()
    write_jsonl([batch], buf)
    return buf.getvalue()


def test_cli_simulate_writes_valid_jsonl(tmp_path: Any) -> None:
    out = tmp_path / "s.jsonl"
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "-s",
            "healthy",
            "-s",
            "latency_regression",
            "--duration",
            "20",
            "--seed",
            "3",
            "-o",
            str(out),
            "--stage",
            "canary-20",
        ],
    )
    assert result.exit_code == 0, result.output
    decoder = Decoder()
    events = [e for line in out.read_bytes().splitlines() for e in decoder.decode(line).events]
    assert {e.rollout_id for e in events} == {"healthy", "latency_regression"}
    assert len(events) == out.read_bytes().count(b"\n") > 1000


def test_cli_simulate_needs_exactly_one_output() -> None:
    result = CliRunner().invoke(app, ["simulate", "--duration", "5"])
    assert result.exit_code == 2


def test_jsonl_equals_the_validated_stream() -> None:
    spec = RolloutSpec("r1", build_scenario("healthy"), plan="p")
    buf = io.BytesIO()
    n = write_jsonl(Simulation([spec], seed=1, duration_s=10, raw=True).slices(), buf)
    events = list(Simulation([spec], seed=1, duration_s=10).events())
    decoded = [Decoder().decode(line).events[0] for line in buf.getvalue().splitlines()]
    assert n == len(events) and decoded == events
