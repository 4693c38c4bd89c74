"""Shared by the worker benchmarks: a broker, fresh topics, a worker subprocess, references."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from monitor import devbroker
from tests.integration.worker.support import WorkerProcess, flapping, start_worker
from topics.admin import create_topics
from topics.codec import Decoder, encode_batch, encode_event
from topics.commands import Command, decode_command
from topics.config import TopicsConfig
from topics.events import Event, Metric

LOG_DIR = Path(tempfile.mkdtemp(prefix="rollguard-bench-worker-"))


@contextlib.contextmanager
def bench_broker() -> Iterator[str]:
    """``ROLLGUARD_BENCH_BOOTSTRAP`` if set, else a broker of our own for this run."""
    existing = os.environ.get("ROLLGUARD_BENCH_BOOTSTRAP")
    if existing:
        yield existing
        return
    broker = devbroker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


def fresh_topics(bootstrap: str, name: str) -> TopicsConfig:
    config = TopicsConfig(partitions=4).with_prefix(f"bench-{name}-{time.time_ns()}")
    create_topics(bootstrap, config)
    return config


def raw_reference(
    bootstrap: str,
    topic: str,
    events: int,
    *,
    batches: bool,
    partitions: int = 4,
    validate: bool = False,
) -> float:
    """Events/s of a bare aiokafka ``getmany`` + JSON decode loop over ``topic``
    (``validate``: decode with ``topics.codec.Decoder`` instead, typed and checked)."""
    decoder = Decoder()

    async def run() -> float:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            max_partition_fetch_bytes=4 << 20,
        )
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
            await consumer.seek_to_beginning()
            seen, started = 0, 0.0
            while seen < events:
                got = await consumer.getmany(timeout_ms=500, max_records=10_000)
                if got and not started:
                    started = time.perf_counter()
                for records in got.values():
                    for record in records:
                        if validate:
                            seen += len(decoder.decode(record.value).events)
                        else:
                            obj = orjson.loads(record.value)
                            seen += len(obj["events"]) if batches else 1
            return seen / (time.perf_counter() - started)
        finally:
            await consumer.stop()

    return asyncio.run(run())


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def events_applied(worker: WorkerProcess) -> float:
    """Events the worker handed to its core so far, from /healthz: cheap to poll, where a
    /metrics render takes ~8 ms of the worker's loop each time."""
    return float(orjson.loads(worker.get("/healthz")[1])["events_applied"])


def worker_rate(
    bootstrap: str,
    topics: TopicsConfig,
    events: int,
    name: str,
    cpu_share: list[float] | None = None,
    **kwargs: object,
) -> tuple[float, WorkerProcess]:
    """Events/s of one worker over a backlog already on ``topics.telemetry``: from the first
    event applied to the last (:func:`events_applied`, polled every 20 ms).
    ``cpu_share`` gets the share of one core the worker used meanwhile."""
    worker = start_worker(bootstrap, topics, name, LOG_DIR, **kwargs)  # type: ignore[arg-type]
    try:
        worker.wait_healthy(120)
        started = done = first = cpu = 0.0
        seen = 0.0
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            seen = events_applied(worker)
            now = time.perf_counter()
            if seen and not started:
                started, first = now, seen  # count only what is applied after this moment
                cpu = cpu_seconds(worker.proc.pid)
            if seen >= events:
                done = now
                if cpu_share is not None:
                    cpu_share.append((cpu_seconds(worker.proc.pid) - cpu) / (done - started))
                break
            time.sleep(0.02)
        if not done:
            raise RuntimeError(
                f"worker applied only {seen} of {events} events:\n{worker.log_tail()}"
            )
        if first >= events:
            raise RuntimeError(
                f"backlog of {events} events was done before the first sample: raise N"
            )
    except BaseException:  # a worker left running spins on a stopped broker and skews others' runs
        worker.stop()
        raise
    return (events - first) / (done - started), worker


def flapping_events(rollouts: int, step_s: float = 0.1) -> Iterator[Event]:
    """Endless test-core input for rollouts ``f0``..: each canary's error rate is high for
    6 s of event time, then low for 6 s, so each rollout decides (pause / proceed) every
    ~6 s of event time, staggered across rollouts (:func:`support.flapping`)."""
    return flapping([f"f{i}" for i in range(rollouts)], step_s)


@dataclass
class Paced:
    """Produce ``events`` at ``rate`` events/s, remembering when each metric event was sent
    (the decisive events of the test core: a command's ``issued_at`` is its ``ts``)."""

    bootstrap: str
    topic: str
    rate: float
    batch: int = 1
    """>1: send envelopes of this many events (one key, so one partition keeps their order)
    — a Python producer of single messages cannot drive the worker at half its maximum."""
    sent_at: dict[tuple[str, float], float] = field(default_factory=dict)
    sent: int = 0

    async def run(self, events: Iterator[Event], stop: asyncio.Event) -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks=1, linger_ms=1)
        await producer.start()
        try:
            started = time.perf_counter()
            while not stop.is_set():
                due = int((time.perf_counter() - started) * self.rate) - self.sent
                while due >= self.batch:
                    group = [next(events) for _ in range(self.batch)]
                    now = time.time()
                    for event in group:
                        if isinstance(event, Metric):
                            self.sent_at[(event.rollout_id, event.ts)] = now
                    if self.batch == 1:
                        value, key = encode_event(group[0]), group[0].rollout_id.encode()
                    else:
                        value, key = encode_batch(group), b"load"
                    await producer.send(self.topic, value, key=key)
                    self.sent += self.batch
                    due -= self.batch
                await asyncio.sleep(0.002)
        finally:
            await producer.stop()


async def watch_topics(
    bootstrap: str, topics: list[str], on_record: Callable[[Any, float], None], stop: asyncio.Event
) -> None:
    """Call ``on_record(record, arrival wall time)`` for every record on ``topics``."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    try:
        while not stop.is_set():
            got = await consumer.getmany(timeout_ms=100)
            now = time.time()
            for records in got.values():
                for record in records:
                    on_record(record, now)
    finally:
        await consumer.stop()


async def watch_control(
    bootstrap: str, topic: str, on_command: Callable[[Command, float], None], stop: asyncio.Event
) -> None:
    """Call ``on_command(command, arrival wall time)`` for everything on ``topic``."""
    await watch_topics(
        bootstrap, [topic], lambda record, now: on_command(decode_command(record.value), now), stop
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
