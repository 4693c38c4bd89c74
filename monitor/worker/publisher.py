"""Send records and know when the broker has them: signed commands, DLQ records, envelopes.

One idempotent producer per worker (``enable_idempotence=True`` implies ``acks=all`` in
aiokafka, and keeps per-partition order across its internal retries). Nothing counts as sent
until its future resolved: the callers await :meth:`Publisher.flush` before they commit an
offset or write a checkpoint that claims the input behind it. A send that fails is sent again
(same bytes, same key) until it is acked or the worker stops; commands are deterministic, so
a repeat is harmless to orchestrators, which drop it by ``command_id``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

from aiokafka.partitioner import DefaultPartitioner

from monitor.edge.clients import Producer, Sender
from topics.commands import Command, sign_command
from topics.keys import SigningKey

log = logging.getLogger(__name__)

RETRY_BACKOFF_S: Final = 0.5


@dataclass
class Pending:
    topic: str
    value: bytes | None
    key: bytes | None
    partition: int | None
    future: asyncio.Future[object]
    on_ack: Callable[[], None] | None = None


S_co = TypeVar("S_co", bound=Sender, covariant=True)


@dataclass
class Publisher(Generic[S_co]):
    """Wraps one started producer (``AIOKafkaProducer``; the faust app's, in the adapter)."""

    producer: S_co
    signing_key: SigningKey
    control_topic: str
    stopping: Callable[[], bool] = field(default=lambda: False)
    resend: bool = True
    """False: a failed record is not sent again; :meth:`flush` reports it (False) once every
    record queued is settled, and the caller sends it and what followed it again itself (a
    re-send alone can land after records sent later; the ingest rewinds instead)."""
    _pending: list[Pending] = field(default_factory=list)
    _partitions: dict[str, tuple[list[int], dict[bytes, int]]] = field(default_factory=dict)

    async def partitioner(self: Publisher[Producer], topic: str) -> Callable[[bytes], int]:
        """Where a record keyed ``key`` goes, as the producer's default partitioner picks it
        (murmur2 over all partitions): records sent there explicitly land where keyed sends
        of the same key do (silence events, older workers). One metadata look-up per call;
        callers take one per round."""
        partitions = sorted(await self.producer.partitions_for(topic))
        known, memo = self._partitions.get(topic, ([], {}))
        if known != partitions:
            memo = {}
            self._partitions[topic] = (partitions, memo)

        def partition_of(key: bytes) -> int:
            found = memo.get(key)
            if found is None:
                found = memo[key] = DefaultPartitioner()(key, partitions, partitions)
            return found

        return partition_of

    async def send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        partition: int | None = None,
        on_ack: Callable[[], None] | None = None,
    ) -> None:
        """Queue one record; it counts only after :meth:`flush` returned."""
        future = await self._send_once(topic, value, key, partition)
        self._pending.append(Pending(topic, value, key, partition, future, on_ack))

    async def send_command(self, command: Command, on_ack: Callable[[], None] | None) -> None:
        """Sign ``command`` and queue it: serialised once, the bytes signed are those sent."""
        signed = sign_command(command, self.signing_key)
        await self.send(self.control_topic, signed.wire, command.rollout_id.encode(), None, on_ack)

    async def flush(self) -> bool:
        """Wait until every queued record is acked, re-sending failures; False if stopping
        (or, without ``resend``, if a record failed)."""
        pending, self._pending = self._pending, []
        failed = False
        for item in pending:
            while True:
                try:
                    await item.future
                    acked = True
                    break
                except Exception as exc:  # broker gone, timeout: send the same bytes again
                    if self.stopping():
                        return False
                    if not self.resend:
                        log.warning("send to %s failed (%r)", item.topic, exc)
                        failed, acked = True, False
                        break
                    log.warning("send to %s failed (%r); retrying", item.topic, exc)
                    await asyncio.sleep(RETRY_BACKOFF_S)
                    try:
                        item.future = await self._send_once(
                            item.topic, item.value, item.key, item.partition
                        )
                    except Exception as again:  # the producer refused at once: keep trying
                        log.warning("re-send to %s refused (%r)", item.topic, again)
                        item.future = _failed(again)
            if item.on_ack is not None and acked:
                item.on_ack()
        return not failed

    async def _send_once(
        self, topic: str, value: bytes | None, key: bytes | None, partition: int | None
    ) -> asyncio.Future[object]:
        return await self.producer.send(topic, value=value, key=key, partition=partition)


def _failed(exc: BaseException) -> asyncio.Future[object]:
    future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    future.set_exception(exc)
    return future
