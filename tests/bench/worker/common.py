"""Shared by the worker benchmarks: a broker, fresh topics, a worker subprocess, references."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from monitor import devbroker
from tests.integration.worker.support import WorkerProcess, metric, start_worker
from topics.admin import create_topics
from topics.config import TopicsConfig

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
    bootstrap: str, topic: str, events: int, *, batches: bool, partitions: int = 4
) -> float:
    """Events/s of a bare aiokafka ``getmany`` + JSON decode loop over ``topic``."""

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
                        obj = orjson.loads(record.value)
                        seen += len(obj["events"]) if batches else 1
            return seen / (time.perf_counter() - started)
        finally:
            await consumer.stop()

    return asyncio.run(run())


def worker_rate(
    bootstrap: str, topics: TopicsConfig, events: int, name: str, **kwargs: object
) -> tuple[float, WorkerProcess]:
    """Events/s of one worker over a backlog already on ``topics.telemetry``: from the first
    event applied to the last, read from its /metrics (``rollguard_events_total``)."""
    worker = start_worker(bootstrap, topics, name, LOG_DIR, **kwargs)  # type: ignore[arg-type]
    worker.wait_healthy(120)
    started = done = first = 0.0
    seen = 0.0
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        seen = metric(worker, "rollguard_events_total")
        now = time.perf_counter()
        if seen and not started:
            started, first = now, seen  # count only what is applied after this moment
        if seen >= events:
            done = now
            break
        time.sleep(0.02)
    if not done:
        raise RuntimeError(f"worker applied only {seen} of {events} events:\n{worker.log_tail()}")
    return (events - first) / (done - started), worker
