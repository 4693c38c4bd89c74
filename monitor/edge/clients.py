"""The aiokafka clients as the worker and the status readers use them, typed.

aiokafka ships no type information (mypy sees its classes as ``Any``), so these protocols
state what the worker calls on them, with the types aiokafka 0.13–0.14 documents and
returns. ``AIOKafkaConsumer``, ``AIOKafkaProducer``, ``ConsumerRecord`` and
``TopicPartition`` satisfy them structurally; so do the test doubles of the unit tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from typing import Any, Protocol


class Partition(Protocol):
    """``aiokafka.TopicPartition`` (a named tuple: hashable, ordered)."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...


class Message(Protocol):
    """What the ingest reads of a record (the faust adapter's messages have this shape too)."""

    @property
    def offset(self) -> int: ...

    @property
    def timestamp(self) -> int: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...


class Record(Message, Protocol):
    """``aiokafka.ConsumerRecord`` of bytes (the worker sets no deserializers)."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...


Batches = Mapping[Partition, list[Record]]
"""What ``getmany`` returns: each partition's records, in offset order."""


class Client(Protocol):
    """What the worker starts and stops: every client, and its wrappers of them."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Fetcher(Client, Protocol):
    """What reading a partition takes: ``AIOKafkaConsumer``."""

    async def getmany(
        self, *partitions: Partition, timeout_ms: int = 0, max_records: int | None = None
    ) -> Batches: ...

    async def end_offsets(self, partitions: Collection[Partition]) -> Mapping[Partition, int]: ...

    async def position(self, partition: Partition) -> int: ...

    def highwater(self, partition: Partition) -> int | None: ...

    def partitions_for_topic(self, topic: str) -> set[int] | None: ...

    async def seek_to_beginning(self, *partitions: Partition) -> bool: ...


class Reader(Fetcher, Protocol):
    """A consumer without a group, its partitions assigned (``assign``)."""

    def assign(self, partitions: list[Partition]) -> None: ...

    async def topics(self) -> set[str]:
        """The topics the broker has (metadata)."""
        ...


class Consumer(Fetcher, Protocol):
    """A consumer of a group (``subscribe``), committing its offsets itself."""

    def subscribe(self, topics: list[str], *, listener: object = None) -> None: ...

    def assignment(self) -> set[Partition]: ...

    def seek(self, partition: Partition, offset: int) -> None: ...

    async def commit(self, offsets: Mapping[Partition, int] | None = None) -> None: ...

    async def committed(self, partition: Partition) -> int | None: ...


class Sender(Protocol):
    """What sends records: ``AIOKafkaProducer`` or the faust adapter's producer."""

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
    ) -> asyncio.Future[object]:
        """Queue a record; the future resolves (with its ``RecordMetadata``) once acked."""
        ...


class Producer(Sender, Client, Protocol):
    """``AIOKafkaProducer`` (idempotent: ``acks=all``)."""

    async def partitions_for(self, topic: str) -> set[int]: ...


class CommittedOffset(Protocol):
    """``kafka.structs.OffsetAndMetadata``: ``offset`` is -1 when nothing was committed."""

    @property
    def offset(self) -> int: ...


class Admin(Protocol):
    """``AIOKafkaAdminClient``, for a group's commits and a topic's partitions."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def find_coordinator(self, group_id: str) -> int: ...

    async def list_consumer_group_offsets(
        self, group_id: str, group_coordinator_id: int | None, partitions: list[Partition]
    ) -> Mapping[Partition, CommittedOffset]: ...

    async def describe_topics(
        self, topics: list[str] | None = None
    ) -> list[dict[str, Any]]:  # the broker's metadata response, as JSON-like dicts
        ...
