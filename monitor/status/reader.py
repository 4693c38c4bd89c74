"""Materialise the status topic into a :class:`~monitor.status.table.StatusTable`.

Every partition is assigned (no consumer group: every reader needs every rollout) and read
from the beginning; the compacted topic holds the latest record per key, so a reader that
starts late knows the fleet as soon as it caught up with the end offsets it saw at start.
Until then a rollout it has not seen yet may still exist: callers answer "loading", not
"unknown" (:attr:`caught_up`).

Two readers over one table: :class:`StatusFollower` (aiokafka, inside a worker) and
:class:`StatusSnapshot` (kafka-python, for ``rollguard status`` and the operator commands).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.edge.clients import Partition, Reader
from monitor.status.table import StatusTable

log = logging.getLogger(__name__)


def status_consumer(common: Mapping[str, Any], client_id: str) -> Reader:
    """An unassigned aiokafka consumer for the status topic: no group, reads from the start,
    short fetch waits so a change reaches every reader quickly."""
    from aiokafka import AIOKafkaConsumer

    consumer: Reader = AIOKafkaConsumer(
        **common,
        group_id=None,
        enable_auto_commit=False,
        client_id=client_id,
        fetch_max_wait_ms=100,
        auto_offset_reset="earliest",
    )
    return consumer


@dataclass
class StatusFollower:
    """Follows the status topic forever from a started ``AIOKafkaConsumer`` (no group)."""

    consumer: Reader | None
    """Started before :meth:`start` (the faust adapter makes it as its app starts)."""
    topic: str
    table: StatusTable
    caught_up: bool = False
    last_fetch_s: float = field(default_factory=time.monotonic)
    """Monotonic time of the last fetch that returned (records or not)."""
    _ends: Mapping[Partition, int] = field(default_factory=dict)

    async def start(self, partitions: set[int]) -> None:
        """Assign ``partitions`` (all of the topic's), read from the beginning."""
        from aiokafka import TopicPartition

        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer = self._reader()
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        self._ends = await consumer.end_offsets(tps)
        await self._check_caught_up()

    def _reader(self) -> Reader:
        if self.consumer is None:
            raise RuntimeError("status follower: no consumer (it is made as the app starts)")
        return self.consumer

    async def run(self, stopping: Callable[[], bool]) -> None:
        while not stopping():
            try:
                batches = await self._reader().getmany(timeout_ms=200, max_records=5000)
            except Exception as exc:  # broker away: the table ages, answers turn stale
                log.warning("status reader: fetch failed (%r)", exc)
                await asyncio.sleep(0.5)
                continue
            self.last_fetch_s = time.monotonic()
            now = time.time()  # edge: ages of the owners' statuses
            for records in batches.values():
                for record in records:
                    self.table.apply(record.key, record.value, now)
            if not self.caught_up:
                await self._check_caught_up()

    async def _check_caught_up(self) -> None:
        positions = [await self._reader().position(tp) for tp in self._ends]
        self.caught_up = all(
            p >= end for p, end in zip(positions, self._ends.values(), strict=True)
        )


@dataclass
class StatusSnapshot:
    """The status topic read up to its end, then (``poll``) followed, with kafka-python."""

    bootstrap: str
    topic: str
    table: StatusTable
    kafka_options: Mapping[str, Any] | None = None
    metadata_timeout_s: float = 15.0
    _consumer: Any = None

    def __enter__(self) -> StatusSnapshot:
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            client_id="rollguard-status",
            allow_auto_create_topics=False,
            **dict(self.kafka_options or {}),
        )
        self._consumer = consumer
        try:
            deadline = time.monotonic() + self.metadata_timeout_s
            while not (partitions := consumer.partitions_for_topic(self.topic)):
                if time.monotonic() > deadline:
                    raise LookupError(
                        f"status topic {self.topic!r} not found: run `rollguard topics create` "
                        "and start the workers (they publish it)"
                    )
                time.sleep(0.2)
            tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            ends = consumer.end_offsets(tps)
            while any(consumer.position(tp) < ends[tp] for tp in tps):
                self.poll(0.5)
        except BaseException:
            consumer.close(autocommit=False)
            raise
        return self

    def poll(self, timeout_s: float) -> int:
        """Apply what arrives within ``timeout_s``; returns how many records."""
        n = 0
        now = time.time()
        for records in self._consumer.poll(timeout_ms=int(timeout_s * 1000)).values():
            for record in records:
                self.table.apply(record.key, record.value, now)
                n += 1
        return n

    def __exit__(self, *_: object) -> None:
        self._consumer.close(autocommit=False)
