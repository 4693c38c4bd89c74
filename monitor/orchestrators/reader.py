"""Read a whole topic (every partition, no consumer group, nothing committed).

For ``rollguard tail`` and ``rollguard export``: from the beginning or the end, up to the
end offsets seen at start (``follow=False``) or forever (``follow=True``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple


class Message(NamedTuple):
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes


def read_topic(
    bootstrap: str,
    topic: str,
    *,
    from_beginning: bool = True,
    follow: bool = False,
    kafka_options: Mapping[str, Any] | None = None,
    max_message_bytes: int = 1 << 20,
    should_stop: Callable[[], bool] = lambda: False,
    poll_timeout_s: float = 0.5,
    metadata_timeout_s: float = 15.0,
) -> Iterator[Message]:
    """Yield the messages of ``topic`` in per-partition order."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        client_id="rollguard-reader",
        max_partition_fetch_bytes=max_message_bytes,
        allow_auto_create_topics=False,  # a missing topic is an error, not a new topic
        **dict(kafka_options or {}),
    )
    try:
        deadline = time.monotonic() + metadata_timeout_s
        while not (partitions := consumer.partitions_for_topic(topic)):
            if time.monotonic() > deadline:
                raise LookupError(f"topic {topic!r} not found")
            time.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        if from_beginning:
            consumer.seek_to_beginning(*tps)
        else:
            consumer.seek_to_end(*tps)
        ends = consumer.end_offsets(tps)
        remaining = {tp for tp in tps if consumer.position(tp) < ends[tp]}
        while follow or remaining:
            if should_stop():
                return
            for tp, records in consumer.poll(timeout_ms=int(poll_timeout_s * 1000)).items():
                for r in records:
                    yield Message(tp.partition, r.offset, r.timestamp, r.key, r.value or b"")
            remaining = {tp for tp in remaining if consumer.position(tp) < ends[tp]}
    finally:
        consumer.close(autocommit=False)
