"""Ingest: raw telemetry → validate → dead-letter, or re-key by rollout into ``by_rollout``.

A repartition step, as Kafka Streams does: producers key telemetry however they like; this
stage reads it in large ``getmany`` batches (no per-message framework cost), validates with
``topics.codec.Decoder``, and forwards batch envelopes keyed by ``rollout_id``, so every event
of a rollout reaches the one worker that owns its state, in the order it was read.

Crash safety (at-least-once here, made exactly-once downstream): input offsets are committed
only after every envelope and dead letter forwarded for them was acked by the broker (acks
are awaited every ``COMMIT_EVERY_S``, not per round, so rounds overlap their round trips).
If forwarding a round fails, that round is read again from its first offsets. Events forwarded
twice (crash between ack and commit) carry the same source offsets and are dropped by the
processor (see :mod:`monitor.worker.envelope`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
from aiokafka import ConsumerRebalanceListener

from monitor.errors import ConfigError
from monitor.metrics import WorkerMetrics
from monitor.worker.envelope import POSITION_SCALE, encode_envelope
from monitor.worker.fetch import fetch_round
from monitor.worker.publisher import Publisher
from topics.codec import DeadLetter, Decoder, Source, encode_dead_letter, encode_event

log = logging.getLogger(__name__)

ENVELOPE_MAX_BYTES: Final = 900_000  # under the producer's and broker's 1 MiB message limit
DLQ_ORIGINAL_MAX_BYTES: Final = 600_000  # base64 in the DLQ record: 4/3 of this
COMMIT_EVERY_S: Final = 0.1


@dataclass(slots=True)
class _Group:
    offsets: list[int] = field(default_factory=list)
    raws: list[bytes] = field(default_factory=list)
    kts: int = 0


@dataclass
class IngestStage:
    consumer: Any  # AIOKafkaConsumer subscribed to the telemetry topic, auto-commit off
    publisher: Publisher
    metrics: WorkerMetrics
    by_rollout_topic: str
    dlq_topic: str
    decoder: Decoder = field(default_factory=Decoder)
    max_records: int = 5000
    envelope_max_events: int = 1000
    reject_clock_skew: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_round_s: float = field(default_factory=time.monotonic)
    stopping: bool = False
    _to_commit: dict[Any, int] = field(default_factory=dict)
    _last_commit_s: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.decoder.max_batch_events > POSITION_SCALE:
            raise ConfigError(
                f"ingest: batch envelopes of up to {self.decoder.max_batch_events} events "
                f"exceed the {POSITION_SCALE} positions per message the processor tracks"
            )

    async def run(self) -> None:
        while not self.stopping:
            batches = await fetch_round(self.consumer, self.max_records, "ingest")
            if batches is None:
                continue
            self.last_round_s = time.monotonic()
            async with self.lock:
                if batches:
                    await self.round(batches)
                if not batches or time.monotonic() - self._last_commit_s >= COMMIT_EVERY_S:
                    await self.commit()

    async def round(self, batches: dict[Any, list[Any]]) -> None:
        """Forward one batch; its offsets are committed later, once acked (:meth:`commit`).

        Not waiting for acks here keeps broker round trips off the per-round path: sends of
        consecutive rounds overlap, and a commit every ``COMMIT_EVERY_S`` covers them all.
        """
        first = {tp: records[0].offset for tp, records in batches.items() if records}
        try:
            await self._forward(batches)
        except Exception:
            log.exception("ingest: round failed; reading it again")
            for tp, offset in first.items():
                self.consumer.seek(tp, offset)
            return
        for tp, records in batches.items():
            if records:
                self._to_commit[tp] = records[-1].offset + 1
                highwater = self.consumer.highwater(tp)
                if highwater is not None:
                    lag = max(0, highwater - records[-1].offset - 1)
                    self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)

    async def commit(self) -> None:
        """Wait for every forwarded envelope and dead letter to be acked, then commit."""
        self._last_commit_s = time.monotonic()
        if not self._to_commit:
            return
        if not await self.publisher.flush():
            return  # stopping: nothing committed, the next owner reads it again
        offsets, self._to_commit = self._to_commit, {}
        try:
            await self.consumer.commit(offsets)
        except Exception as exc:  # rebalance or broker away: a later commit covers it
            log.warning("ingest: commit failed (%r); the processor drops repeats", exc)

    async def _forward(self, batches: dict[Any, list[Any]]) -> None:
        decode = self.decoder.decode
        now = time.time() if self.reject_clock_skew else None  # edge: clock-skew check only
        groups: dict[tuple[int, str], _Group] = {}
        dead_reasons: list[str] = []
        for tp, records in batches.items():
            self.metrics.messages.labels(tp.topic).inc(len(records))
            for record in records:
                value = record.value
                out = decode(value, Source(tp.topic, tp.partition, record.offset), now)
                for dead in out.dead:
                    dead_reasons.append(dead.reason)
                    await self.publisher.send(self.dlq_topic, _dead_letter_bytes(dead), record.key)
                events = out.events
                if not events:
                    continue
                if len(value) > ENVELOPE_MAX_BYTES:  # valid but cannot be forwarded whole
                    dead_reasons.append("oversized_message")
                    too_big = DeadLetter(
                        reason="oversized_message",
                        message=f"{len(value)} bytes > forwarding limit {ENVELOPE_MAX_BYTES}",
                        original=value,
                        topic=tp.topic,
                        partition=tp.partition,
                        offset=record.offset,
                    )
                    await self.publisher.send(self.dlq_topic, _dead_letter_bytes(too_big))
                    continue
                # a one-event message is forwarded as the producer's own bytes (no re-encode)
                single = len(events) == 1 and not out.dead and b'"batch"' not in value
                base = record.offset * POSITION_SCALE
                for index, event in enumerate(events):
                    group = groups.get((tp.partition, event.rollout_id))
                    if group is None:
                        group = groups[(tp.partition, event.rollout_id)] = _Group()
                    group.offsets.append(base + index)
                    group.raws.append(value if single else encode_event(event))
                    group.kts = record.timestamp
        for reason in dead_reasons:
            self.metrics.dlq.labels(reason).inc()
        for (src, rollout_id), group in groups.items():
            key = rollout_id.encode()
            for start, end in _chunks(group.raws, self.envelope_max_events):
                envelope = encode_envelope(
                    src, group.offsets[start:end], group.raws[start:end], group.kts
                )
                await self.publisher.send(self.by_rollout_topic, envelope, key)


def _dead_letter_bytes(dead: DeadLetter) -> bytes:
    """The DLQ record, with the original cut short if it would not fit in one message."""
    data = encode_dead_letter(dead)
    if len(data) <= ENVELOPE_MAX_BYTES:
        return data
    keep = DLQ_ORIGINAL_MAX_BYTES
    return encode_dead_letter(
        msgspec.structs.replace(
            dead,
            original=dead.original[:keep],
            message=f"{dead.message} (original cut to its first {keep} bytes)"[:1024],
        )
    )


def _chunks(raws: list[bytes], max_events: int) -> list[tuple[int, int]]:
    """Slices of at most ``max_events`` events and about ENVELOPE_MAX_BYTES each."""
    spans: list[tuple[int, int]] = []
    start, size = 0, 0
    for index, raw in enumerate(raws):
        if index > start and (index - start >= max_events or size + len(raw) > ENVELOPE_MAX_BYTES):
            spans.append((start, index))
            start, size = index, 0
        size += len(raw) + 8
    spans.append((start, len(raws)))
    return spans


class IngestListener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """On revocation, let the round in flight finish, then commit what is acked."""

    def __init__(self, stage: IngestStage) -> None:
        self._stage = stage

    async def on_partitions_revoked(self, revoked: list[Any]) -> None:
        async with self._stage.lock:
            await self._stage.commit()

    async def on_partitions_assigned(self, assigned: list[Any]) -> None:
        return  # committed offsets are where to resume; nothing of ours to restore
