"""Ingest: raw telemetry → route by rollout into ``by_rollout``, or dead-letter.

A repartition step, as Kafka Streams does: producers key telemetry however they like; this
stage reads it in large ``getmany`` batches (no per-message framework cost) and forwards batch
envelopes keyed by ``rollout_id``, so every event of a rollout reaches the one worker that
owns its state, in the order it was read.

It routes and does not validate: :func:`route` reads only each event's ``rollout_id`` and
forwards the producer's own bytes; the processor validates them as it decodes them anyway
(:mod:`monitor.worker.envelope`), so each event is decoded into a typed event once. A message
that cannot be routed (unreadable, no string ``rollout_id``, wrong batch version, too big) is
decoded whole here by ``topics.codec.Decoder``: its bad events go to the DLQ with their
reasons and its valid ones are forwarded. Routing forwards nothing it has not bounded first
(size, JSON nesting, UTF-8: bytes the processor could not parse would spoil the whole record
they travel in), and each message is handled at its own boundary (:meth:`IngestStage._route_one`):
whatever it holds, and whatever bug it meets, it ends in the DLQ and the stage goes on.

Crash safety (at-least-once here, made exactly-once downstream): input offsets are committed
only after every envelope and dead letter forwarded for them was acked by the broker (acks
are awaited every ``COMMIT_EVERY_S``, not per round, so rounds overlap their round trips).
If forwarding a round fails, that round is read again from its first offsets. A forward the
broker never acked is not sent again on its own (it could land after envelopes sent later):
the stage reads again from its last commit and forwards everything after it. Events forwarded
twice (crash between ack and commit, rewind) carry the same source offsets and are dropped by
the processor; each envelope names the position forwarded before it, so the processor sets
aside one that arrived without its predecessor (see :mod:`monitor.worker.envelope`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from operator import attrgetter
from typing import Annotated, Any, Final, NamedTuple

import msgspec
from aiokafka import ConsumerRebalanceListener

from monitor.errors import ConfigError
from monitor.metrics import WorkerMetrics
from monitor.worker.envelope import POSITION_SCALE, encode_bundle, encode_envelope, encode_whole
from monitor.worker.fetch import fetch_round
from monitor.worker.health import StageProgress
from monitor.worker.publisher import Publisher
from topics.codec import DeadLetter, Decoder, Source, encode_dead_letter, encode_event
from topics.control_plane import ControlPlaneGate, Screen
from topics.events import SCHEMA_VERSION
from topics.limits import json_depth_error

log = logging.getLogger(__name__)

ENVELOPE_MAX_BYTES: Final = 900_000  # under the producer's and broker's 1 MiB message limit
WHOLE_MAX_BYTES: Final = ENVELOPE_MAX_BYTES - 1024  # a batch forwarded whole, and its header
DLQ_ORIGINAL_MAX_BYTES: Final = 600_000  # base64 in the DLQ record: 4/3 of this
COMMIT_EVERY_S: Final = 0.1
# topics.events.Name's limit. A longer rollout id is bad, and is not forwarded either: the
# envelope would hold it beside its event and could outgrow a Kafka message.
ROLLOUT_ID_MAX: Final = 128


class _Key(msgspec.Struct):
    rollout_id: Annotated[str, msgspec.Meta(max_length=ROLLOUT_ID_MAX)]


class _Head(msgspec.Struct):
    """What routing needs of a message; other fields are skipped, not decoded."""

    kind: Any = None
    v: Any = None
    rollout_id: Any = None
    events: list[_Key] | None = None


class _Items(msgspec.Struct):
    events: list[msgspec.Raw]


_HEAD: Final = msgspec.json.Decoder(_Head)
_ITEMS: Final = msgspec.json.Decoder(_Items)
_ROLLOUT: Final = attrgetter("rollout_id")


class Routed(NamedTuple):
    rollout_ids: list[str]
    raws: list[bytes]
    """Each event's own JSON bytes (for a one-event message, the message itself)."""
    batched: bool
    whole: bool = False
    """``raws`` is the batch message itself, all its events of one rollout."""


def route(data: bytes | None, decoder: Decoder, whole_events: int = 0) -> Routed | None:
    """The rollout of each event of a message and its bytes; None when the message must be
    decoded whole (it is bad, or an event of it has no string ``rollout_id``, or cannot be
    forwarded as it is). A batch of one rollout with at most ``whole_events`` events is
    forwarded whole: splitting it into its events cost ~0.3 µs an event.

    >>> route(b'{"kind":"metric","rollout_id":"r1","whatever":1}', Decoder()).rollout_ids
    ['r1']
    >>> route(b'{"kind":"batch","v":1,"events":[{"rollout_id":"a"},{"x":1}]}', Decoder())
    >>> route(b'{"kind":"batch","v":1,"events":[{"rollout_id":"a"}]}', Decoder(), 1).whole
    True
    >>> route(b'{"kind":"metric","rollout_id":"%s"}' % (b"r" * 129), Decoder())
    >>> route(b'{"kind":"metric","rollout_id":"r1","x":%s}' % (b"[" * 99 + b"]" * 99), Decoder())
    >>> route(b'{"kind":"metric","rollout_id":"r1","x":"\\xff"}', Decoder())
    """
    if type(data) is not bytes or len(data) > decoder.max_message_bytes:
        return None
    depth = decoder.max_depth  # checked before any parsing; one event has few brackets
    if (b"[" in data or data.count(b"{") > depth) and json_depth_error(data, depth) is not None:
        return None
    if not data.isascii() and not _utf8(data):  # msgspec skips what it does not decode
        return None  # unchecked: forwarded, it would spoil the processor's whole record
    try:
        head = _HEAD.decode(data)
    except msgspec.DecodeError:  # ValidationError included
        return None
    if head.kind == "batch":
        keys = head.events
        if head.v != SCHEMA_VERSION or keys is None or len(keys) > decoder.max_batch_events:
            return None
        rollout_ids = list(map(_ROLLOUT, keys))
        if (
            0 < len(keys) <= whole_events
            and len(data) <= WHOLE_MAX_BYTES
            and rollout_ids.count(rollout_ids[0]) == len(keys)
        ):
            return Routed(rollout_ids, [data], True, whole=True)
        raws: list[Any] = _ITEMS.decode(data).events
        if raws and max(map(len, raws)) > ENVELOPE_MAX_BYTES:
            return None
        return Routed(rollout_ids, raws, True)
    rollout_id = head.rollout_id
    if type(rollout_id) is not str or len(rollout_id) > ROLLOUT_ID_MAX:
        return None
    if len(data) > ENVELOPE_MAX_BYTES:
        return None
    return Routed([rollout_id], [data], False)


def _utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


@dataclass(slots=True)
class _Run:
    """Events of one rollout from one kind of message (batches or not), in read order."""

    batched: bool
    offsets: Sequence[int] = field(default_factory=list)
    raws: list[bytes] = field(default_factory=list)
    whole: bytes | None = None
    """A batch message forwarded as it is, holding the run's events (``raws`` stays empty)."""


@dataclass(slots=True)
class _Group:
    """Events of one rollout from one source partition, in read order."""

    runs: list[_Run] = field(default_factory=list)
    kts: int = 0

    def add(self, offsets: Sequence[int], raws: list[bytes], batched: bool, kts: int) -> None:
        run = self.runs[-1] if self.runs else None
        if run is None or run.batched != batched or run.whole is not None:
            run = _Run(batched, [])
            self.runs.append(run)
        run.offsets.extend(offsets)  # type: ignore[attr-defined]  # a list unless whole
        run.raws.extend(raws)
        self.kts = kts

    def add_whole(self, base: int, count: int, batch: bytes, kts: int) -> None:
        self.runs.append(_Run(True, range(base, base + count), whole=batch))
        self.kts = kts


@dataclass
class IngestStage:
    consumer: Any  # AIOKafkaConsumer subscribed to the telemetry topic, auto-commit off
    publisher: Publisher
    metrics: WorkerMetrics
    by_rollout_topic: str
    dlq_topic: str
    gate: ControlPlaneGate
    """Control-plane events need an operator signature (``topics.control_plane``)."""
    decoder: Decoder = field(default_factory=Decoder)
    max_records: int = 5000
    envelope_max_events: int = 1000
    reject_clock_skew: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    progress: StageProgress = field(
        default_factory=lambda: StageProgress("ingest", time.monotonic())
    )
    """Offsets committed, input waiting, rounds failing: what ``/healthz`` judges."""
    stopping: bool = False
    _to_commit: dict[Any, int] = field(default_factory=dict)
    _committed: dict[Any, int] = field(default_factory=dict)
    _first_read: dict[Any, int] = field(default_factory=dict)
    _lag: dict[Any, int] = field(default_factory=dict)
    _prev: dict[tuple[int, str], int] = field(default_factory=dict)
    """(source partition, rollout) -> last position forwarded since reading (re)started."""
    _rewind_due: bool = False
    _failures: int = 0
    """Forwards found failed so far (a commit counted before one must not happen)."""
    _last_commit_s: float = field(default_factory=time.monotonic)
    _committing: asyncio.Task[None] | None = None

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
            self.progress.turned(time.monotonic())
            async with self.lock:
                if self._rewind_due:  # what was fetched before the seek comes again
                    await self._rewind()
                    continue
                if batches:
                    await self.round(batches)
                if not batches or time.monotonic() - self._last_commit_s >= COMMIT_EVERY_S:
                    self._commit_soon()

    async def round(self, batches: dict[Any, list[Any]]) -> None:
        """Forward one batch; its offsets are committed later, once acked (:meth:`commit`).

        Not waiting for acks here keeps broker round trips off the per-round path: sends of
        consecutive rounds overlap, and a commit every ``COMMIT_EVERY_S`` covers them all.
        """
        first = {tp: records[0].offset for tp, records in batches.items() if records}
        try:
            await self._forward(batches)
        except Exception as exc:  # sending failed (each message's own faults are handled)
            log.exception("ingest: round failed; reading it again")
            self.metrics.loop_failures.labels("ingest", type(exc).__name__).inc()
            self.progress.failed(sorted(first.items()), type(exc).__name__)
            for tp, offset in first.items():
                self.consumer.seek(tp, offset)
                self._note_lag(tp, offset)
            self._prev.clear()  # what it sent before failing may not arrive
            return
        for tp, records in batches.items():
            if records:
                self._to_commit[tp] = records[-1].offset + 1
                self._note_lag(tp, records[0].offset)

    def _note_lag(self, tp: Any, first_read: int) -> None:
        """Messages of ``tp`` not committed yet (read or not): what /healthz calls waiting."""
        highwater = self.consumer.highwater(tp)
        if highwater is not None:
            done = self._committed.get(tp, self._first_read.setdefault(tp, first_read))
            lag = self._lag[tp] = max(0, highwater - done)
            self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)
            self.progress.lag = sum(self._lag.values())

    async def commit(self) -> None:
        """Wait for every forwarded envelope and dead letter to be acked, then commit (on
        revocation and stop: after the commit in flight, if any)."""
        if self._committing is not None:
            await self._committing
        self._last_commit_s = time.monotonic()
        offsets, self._to_commit = self._to_commit, {}
        await self._commit(offsets, self._failures)

    def _commit_soon(self) -> None:
        """:meth:`commit` in a task of its own: the acks and the commit are two broker round
        trips that new input need not wait for (measured: a third of the loop's time when
        the broker is slow). One at a time; the next one covers what came meanwhile."""
        if self._committing is not None and not self._committing.done():
            return
        self._last_commit_s = time.monotonic()
        offsets, self._to_commit = self._to_commit, {}
        self._committing = (
            asyncio.create_task(self._commit(offsets, self._failures)) if offsets else None
        )

    async def _commit(self, offsets: dict[Any, int], failures: int) -> None:
        """Commit ``offsets`` once everything forwarded so far is acked; everything read
        below them was forwarded before this was called. Never past a failed forward:
        not while a rewind is due, nor when one failed since ``failures`` was counted."""
        if not offsets or self._rewind_due:
            return
        if not await self.publisher.flush():  # stopping, or a forward failed
            self._failures += 1
            self._rewind_due = True  # nothing committed: read again from the last commit
            return
        if self._failures != failures:
            return
        try:
            await self.consumer.commit(offsets)
        except Exception as exc:  # rebalance or broker away: a later commit covers it
            log.warning("ingest: commit failed (%r); the processor drops repeats", exc)
            return
        done = sum(max(1, offset - self._committed.get(tp, 0)) for tp, offset in offsets.items())
        self._committed.update(offsets)
        self.progress.advanced(done, time.monotonic())
        for tp, offset in offsets.items():
            self._note_lag(tp, offset)

    async def _rewind(self) -> None:
        """Read again from the last commit: a forward after it failed (its events and all
        after them are forwarded again; the processor drops what it had)."""
        try:
            for tp in self.consumer.assignment():
                committed = await self.consumer.committed(tp)
                if committed is None:
                    await self.consumer.seek_to_beginning(tp)
                else:
                    self.consumer.seek(tp, committed)
        except Exception as exc:  # broker away: try again next round
            log.warning("ingest: rewind failed (%r); trying again", exc)
            await asyncio.sleep(0.5)
            return
        self._rewind_due = False
        self._prev.clear()
        self._to_commit.clear()
        self.metrics.rewinds.inc()
        self.progress.failed(sorted(self._committed.items()), "forward not acked")
        log.warning("ingest: a forward failed; reading again from the last commit")

    def forget_positions(self) -> None:
        """A rebalance: envelopes claim no predecessor until reading resumed."""
        self._prev.clear()
        self._lag.clear()
        self._first_read.clear()
        self.progress.lag = None

    async def _forward(self, batches: dict[Any, list[Any]]) -> None:
        groups: dict[tuple[int, str], _Group] = {}
        dead_reasons: list[str] = []
        for tp, records in batches.items():
            self.metrics.messages.labels(tp.topic).inc(len(records))
            for record in records:
                base = record.offset * POSITION_SCALE
                routed, dead = self._route_one(tp, record)
                for letter in dead:
                    dead_reasons.append(letter.reason)
                    await self.publisher.send(
                        self.dlq_topic, _dead_letter_bytes(letter), record.key
                    )
                rids, raws, batched, whole = routed
                if not rids:
                    continue
                first = rids[0]
                if whole or rids.count(first) == len(rids):  # the usual: one rollout
                    group = groups.get((tp.partition, first))
                    if group is None:
                        group = groups[(tp.partition, first)] = _Group()
                    if whole:
                        group.add_whole(base, len(rids), raws[0], record.timestamp)
                    else:
                        group.add(range(base, base + len(raws)), raws, batched, record.timestamp)
                    continue
                for index, (rid, raw) in enumerate(zip(rids, raws, strict=True)):
                    group = groups.get((tp.partition, rid))
                    if group is None:
                        group = groups[(tp.partition, rid)] = _Group()
                    group.add((base + index,), [raw], batched, record.timestamp)
        for reason in dead_reasons:
            self.metrics.dlq.labels(reason).inc()
        bundles: dict[int, list[bytes]] = {}  # by_rollout partition -> its envelopes, in order
        partition_of = await self.publisher.partitioner(self.by_rollout_topic)
        for (src, rollout_id), group in groups.items():
            envelopes = bundles.setdefault(partition_of(rollout_id.encode()), [])
            for run in group.runs:
                envelopes += self._encode_run(src, rollout_id, run, group.kts)
        for target, envelopes in bundles.items():
            for bundle in _bundles(envelopes):
                await self.publisher.send(self.by_rollout_topic, bundle, None, target)

    def _encode_run(self, src: int, rollout_id: str, run: _Run, kts: int) -> list[bytes]:
        """The run's envelopes, in order, each naming the position forwarded before it."""
        key = (src, rollout_id)
        if run.whole is not None:
            first = run.offsets[0]
            out = [encode_whole(src, first, run.whole, kts, rollout_id, prev=self._prev.get(key))]
            self._prev[key] = run.offsets[-1]
            return out
        out = []
        for start, end in _chunks(run.raws, self.envelope_max_events):
            offsets = list(run.offsets[start:end])
            raws = run.raws[start:end]
            prev = self._prev.get(key)
            out.append(
                encode_envelope(src, offsets, raws, kts, rollout_id, batched=run.batched, prev=prev)
            )
            self._prev[key] = offsets[-1]
        return out

    def _route_one(self, tp: Any, record: Any) -> tuple[Routed, list[DeadLetter]]:
        """Where one message's events go, and its dead letters. The boundary of one
        message: whatever it holds, and whatever bug it meets here, the stage goes on."""
        try:
            value, refused = record.value, []
            screen = self.gate.screen(value) if type(value) is bytes else None
            if screen is not None and screen.refused:
                refused = _refused(tp, record, screen)
                value = None if screen.whole else screen.remaining
                if value is None:
                    return Routed([], [], False), refused
            routed = route(value, self.decoder, self.envelope_max_events)
            if routed is not None:
                return routed, refused
            routed, dead = self._decode_whole(tp, record, value)
            return routed, refused + dead
        except Exception as exc:  # a bug: logged with its traceback, counted, dead-lettered
            log.exception("ingest: failed on the message at %s:%d", tp, record.offset)
            value = record.value if type(record.value) is bytes else b""
            letter = DeadLetter(
                reason="internal_error",
                message=f"ingest error: {exc!r}"[:1024],
                original=value,
                topic=tp.topic,
                partition=tp.partition,
                offset=record.offset,
            )
            return Routed([], [], False), [letter]

    def _decode_whole(self, tp: Any, record: Any, value: Any) -> tuple[Routed, list[DeadLetter]]:
        """A message :func:`route` refused (``value``: its bytes, or what of them the
        control-plane gate left): what is bad goes to the DLQ, what is valid is forwarded
        (re-encoded, with each event's place in its message)."""
        now = time.time() if self.reject_clock_skew else None  # edge: clock-skew check only
        out = self.decoder.decode(value, Source(tp.topic, tp.partition, record.offset), now)
        dead = list(out.dead)
        batched = len(out.events) != 1 or bool(out.dead) or b'"batch"' in value
        rids: list[str] = []
        raws: list[bytes] = []
        for index, event in enumerate(out.events):
            raw = encode_event(event) if batched else value
            if len(raw) > ENVELOPE_MAX_BYTES:  # valid but cannot be forwarded
                too_big = DeadLetter(
                    reason="oversized_message",
                    message=f"{len(raw)} bytes > forwarding limit {ENVELOPE_MAX_BYTES}",
                    original=raw,
                    topic=tp.topic,
                    partition=tp.partition,
                    offset=record.offset,
                    index=index if batched else None,
                )
                dead.append(too_big)
                continue
            rids.append(event.rollout_id)
            raws.append(raw)
        return Routed(rids, raws, batched), dead


def _refused(tp: Any, record: Any, screen: Screen) -> list[DeadLetter]:
    """Dead letters of the control-plane events the gate refused in ``record``."""
    return [
        DeadLetter(
            reason=refusal.reason,
            message=refusal.detail[:1024],
            original=record.value if refusal.original is None else refusal.original,
            topic=tp.topic,
            partition=tp.partition,
            offset=record.offset,
            index=refusal.item,
        )
        for refusal in screen.refused
    ]


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
    """Slices of at most ``max_events`` events and about ENVELOPE_MAX_BYTES each.

    >>> _chunks([b"x"] * 5, 2)
    [(0, 2), (2, 4), (4, 5)]
    """
    reach = list(accumulate(len(raw) + 8 for raw in raws))  # bytes up to each event
    spans: list[tuple[int, int]] = []
    start, stop = 0, len(raws)
    while start < stop:
        before = reach[start - 1] if start else 0
        fits = bisect_right(reach, before + ENVELOPE_MAX_BYTES, start, stop)
        end = min(stop, start + max_events, max(fits, start + 1))  # one event always goes
        spans.append((start, end))
        start = end
    return spans


def _bundles(envelopes: list[bytes]) -> list[bytes]:
    """The envelopes, in order, as few messages of about ENVELOPE_MAX_BYTES as they fit in
    (an envelope bigger than that goes alone).

    >>> [len(b) for b in _bundles([b"x" * 500_000, b"y" * 300_000, b"z" * 200_000])]
    [800003, 200002]
    """
    out: list[bytes] = []
    start = size = 0
    for index, envelope in enumerate(envelopes):
        if index > start and size + len(envelope) + 1 > ENVELOPE_MAX_BYTES:
            out.append(encode_bundle(envelopes[start:index]))
            start, size = index, 0
        size += len(envelope) + 1
    if start < len(envelopes):
        out.append(encode_bundle(envelopes[start:]))
    return out


class IngestListener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """On revocation, let the round in flight finish, then commit what is acked."""

    def __init__(self, stage: IngestStage) -> None:
        self._stage = stage

    async def on_partitions_revoked(self, revoked: list[Any]) -> None:
        async with self._stage.lock:
            await self._stage.commit()
            self._stage.forget_positions()

    async def on_partitions_assigned(self, assigned: list[Any]) -> None:
        self._stage.forget_positions()  # committed offsets are where to resume
