"""Routing telemetry by rollout: messages in, batch envelopes per rollout and dead letters out.

The pure half of the ingest stage (a repartition step, as Kafka Streams does), shared by the
native worker's :class:`~monitor.worker.ingest.IngestStage` and the faust adapter's ingest
agent (``monitor.faust``): the same envelopes, the same dead letters, one implementation.

Control-plane events (``plan``, ``signoff``) are screened first: one without a valid
operator signature becomes a dead letter and is never forwarded (``topics.control_plane``).
Otherwise it routes and does not validate: :func:`route` reads only each event's ``rollout_id`` and
forwards the producer's own bytes; the processor validates them as it decodes them anyway
(:mod:`monitor.worker.envelope`), so each event is decoded into a typed event once. A message
that cannot be routed (unreadable, no string ``rollout_id``, wrong batch version, too big) is
decoded whole here by ``topics.codec.Decoder``: its bad events become dead letters with their
reasons and its valid ones are forwarded. Routing forwards nothing it has not bounded first
(size, JSON nesting, UTF-8: bytes the processor could not parse would spoil the whole record
they travel in), and each message is handled at its own boundary (:meth:`Router.route_one`):
whatever it holds, and whatever bug it meets, it ends as a dead letter and routing goes on.

Each envelope names the position forwarded before it (same rollout and source partition,
since reading (re)started; :meth:`Router.forget_positions` when it restarts), so the processor
sets aside one that arrived without its predecessor (see :mod:`monitor.worker.envelope`).
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from operator import attrgetter
from typing import Annotated, Any, Final, NamedTuple

import msgspec

from monitor.edge.clients import Message, Partition
from monitor.worker.envelope import POSITION_SCALE, encode_bundle, encode_envelope, encode_whole
from topics.codec import Decoder, encode_event
from topics.control_plane import ControlPlaneGate, Screen
from topics.deadletters import DeadLetter, Source, encode_dead_letter
from topics.errors import ConfigError
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


class Forward(NamedTuple):
    """What a round of telemetry becomes."""

    envelopes: dict[str, list[bytes]]
    """rollout id -> its envelopes, in read order (each names the one before it)."""
    dead: list[tuple[DeadLetter, bytes | None]]
    """Dead letters, each with the key of the message it came from."""


@dataclass
class Router:
    """Routes rounds of telemetry records (``offset``, ``value``, ``key`` and ``timestamp``
    in milliseconds, as aiokafka's records have them) of source partitions ``tp``
    (``topic``, ``partition``)."""

    gate: ControlPlaneGate
    """Control-plane events need an operator signature (``topics.control_plane``)."""
    decoder: Decoder = field(default_factory=Decoder)
    envelope_max_events: int = 1000
    reject_clock_skew: bool = False
    _prev: dict[tuple[int, str], int] = field(default_factory=dict)
    """(source partition, rollout) -> last position forwarded since reading (re)started."""

    def __post_init__(self) -> None:
        if self.decoder.max_batch_events > POSITION_SCALE:
            raise ConfigError(
                f"ingest: batch envelopes of up to {self.decoder.max_batch_events} events "
                f"exceed the {POSITION_SCALE} positions per message the processor tracks"
            )

    def forget_positions(self) -> None:
        """Reading (re)starts (a rebalance, a rewind, a failed round): envelopes claim no
        predecessor until then, as what was sent before may not arrive."""
        self._prev.clear()

    def forward(self, batches: Mapping[Partition, Sequence[Message]]) -> Forward:
        """The envelopes and dead letters of one round, read order kept per source
        partition and rollout."""
        groups: dict[tuple[int, str], _Group] = {}
        dead: list[tuple[DeadLetter, bytes | None]] = []
        route_one = self.route_one
        for tp, records in batches.items():
            partition = tp.partition
            for record in records:
                base = record.offset * POSITION_SCALE
                routed, letters = route_one(tp, record)
                if letters:
                    dead += [(letter, record.key) for letter in letters]
                rids, raws, batched, whole = routed
                if not rids:
                    continue
                first = rids[0]
                if whole or len(rids) == 1 or rids.count(first) == len(rids):  # one rollout
                    group = groups.get((partition, first))
                    if group is None:
                        group = groups[(partition, first)] = _Group()
                    if whole:
                        group.add_whole(base, len(rids), raws[0], record.timestamp)
                    else:
                        group.add(range(base, base + len(raws)), raws, batched, record.timestamp)
                    continue
                for index, (rid, raw) in enumerate(zip(rids, raws, strict=True)):
                    group = groups.get((partition, rid))
                    if group is None:
                        group = groups[(partition, rid)] = _Group()
                    group.add((base + index,), [raw], batched, record.timestamp)
        envelopes: dict[str, list[bytes]] = {}
        for (src, rollout_id), group in groups.items():
            out = envelopes.setdefault(rollout_id, [])
            for run in group.runs:
                out += self._encode_run(src, rollout_id, run, group.kts)
        return Forward(envelopes, dead)

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

    def route_one(self, tp: Partition, record: Message) -> tuple[Routed, list[DeadLetter]]:
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

    def _decode_whole(
        self, tp: Partition, record: Message, value: bytes | None
    ) -> tuple[Routed, list[DeadLetter]]:
        """A message :func:`route` refused (``value``: its bytes, or what of them the
        control-plane gate left): what is bad goes to the DLQ, what is valid is forwarded
        (re-encoded, with each event's place in its message)."""
        now = time.time() if self.reject_clock_skew else None  # edge: clock-skew check only
        out = self.decoder.decode(value, Source(tp.topic, tp.partition, record.offset), now)
        dead = list(out.dead)
        batched = value is None or len(out.events) != 1 or bool(out.dead) or b'"batch"' in value
        rids: list[str] = []
        raws: list[bytes] = []
        for index, event in enumerate(out.events):
            raw = encode_event(event) if batched or value is None else value
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


def _refused(tp: Partition, record: Message, screen: Screen) -> list[DeadLetter]:
    """Dead letters of the control-plane events the gate refused in ``record``."""
    return [
        DeadLetter(
            reason=refusal.reason,
            message=refusal.detail[:1024],
            original=(record.value or b"") if refusal.original is None else refusal.original,
            topic=tp.topic,
            partition=tp.partition,
            offset=record.offset,
            index=refusal.item,
        )
        for refusal in screen.refused
    ]


def dead_letter_bytes(dead: DeadLetter) -> bytes:
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


def bundles(envelopes: list[bytes]) -> list[bytes]:
    """The envelopes, in order, as few messages of about ENVELOPE_MAX_BYTES as they fit in
    (an envelope bigger than that goes alone).

    >>> [len(b) for b in bundles([b"x" * 500_000, b"y" * 300_000, b"z" * 200_000])]
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
