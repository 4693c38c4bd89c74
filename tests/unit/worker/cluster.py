"""A stand-in for the broker at the Kafka clients' public methods, for the outage tests.

One telemetry partition (0) and one ``by_rollout`` partition (3): ``appended`` records
written to telemetry, ``forwarded`` of them committed by the ingest and written on to
``by_rollout``. While ``away`` every call raises what aiokafka raises for a closed
connection.
"""

from __future__ import annotations

from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError
from aiokafka.structs import OffsetAndMetadata


class Cluster:
    def __init__(self, appended: int = 10, forwarded: int = 10, by_rollout: int = 4) -> None:
        self.away = False
        self.appended = appended
        self.forwarded = forwarded
        self.by_rollout = by_rollout

    def _check(self) -> None:
        if self.away:
            raise KafkaConnectionError("Connection at 127.0.0.1:9092 closed")

    # AIOKafkaConsumer
    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0} if topic == "telemetry" else {3}

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        self._check()
        return {
            tp: self.appended if tp.topic == "telemetry" else self.by_rollout for tp in partitions
        }

    # AIOKafkaAdminClient
    async def find_coordinator(self, group: str) -> int:
        self._check()
        return 1

    async def list_consumer_group_offsets(
        self, group: str, coordinator: int, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        self._check()
        return {tp: OffsetAndMetadata(self.forwarded, "") for tp in partitions}
