"""The internal batch envelope on the ``by_rollout`` topic (ingest → processor).

One envelope holds events of ONE rollout (``rid``) read from ONE telemetry partition, in
offset order, with each event's source position. The processor keeps, per rollout and source
partition, the highest source position applied, and drops events at or below it: after an
ingest crash the events between its last commit and the crash are forwarded again, and this
makes the repartition step effectively exactly-once without Kafka transactions (whose open
transactions would stall read-committed readers for ``transaction.timeout.ms`` after a SIGKILL).

Events are validated once, where typed events are needed. The ingest only routes: it reads
each message's rollout ids and forwards the producers' own event bytes (no decode into typed
events, no re-encoding). The processor decodes the envelope in one strict msgspec pass, which
is the validation; only when that pass fails does :func:`take` check event by event with the
same ``topics.codec.Decoder`` rules the ingest used to apply, so every bad event is
dead-lettered with its reason and source position and the good events beside it still count.

A batch message whose events are all of one rollout is forwarded whole (``first`` and
``batch`` in place of ``offsets`` and ``events``): splitting it into its events' bytes and
joining them again cost the ingest ~0.3 µs an event, a tenth of the worker's cost.

``src = -1`` marks events made by a worker itself (silence), which are never re-forwarded.

Envelopes also name the position forwarded just before them (``prev``, same rollout and
source partition, same ingest run). A record the producer failed to deliver can be followed
by later ones that were delivered (a partition without a leader for longer than the request
timeout expires queued batches one by one); the high-water mark alone would then drop the
failed events as repeats once the ingest sends them again. An envelope whose ``prev`` is past
the mark is therefore set aside, mark unchanged ("gap"): the ingest saw the failure and reads
its input again from its last commit, which lies before it.

A ``by_rollout`` message is one envelope (a JSON object) or a bundle of them (a JSON array):
the ingest bundles the envelopes of one round bound for the same partition, so a round costs
one record per partition rather than one per rollout and source partition (measured: the
per-record send and decode made up about a third of the worker's CPU at 50 rollouts).
"""

from __future__ import annotations

import operator
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final

import msgspec
import orjson

from topics.codec import DeadLetter, Decoded, Decoder, Source
from topics.events import SCHEMA_VERSION, Batch, Event
from topics.names import names_known, names_proven

SELF_SOURCE: Final = -1
POSITION_SCALE: Final = 1 << 14
"""An event's source position is ``offset * POSITION_SCALE + index in its message``: the
events of one batch-envelope message share an offset but not a position. Batch envelopes
hold at most ``topics.codec.MAX_BATCH_EVENTS`` (10,000) events, below this scale."""


class Envelope(msgspec.Struct, frozen=True):
    src: int
    """Telemetry partition the events were read from; -1 for worker-made events."""
    offsets: list[int] = []
    """Source position of each event (see POSITION_SCALE), strictly increasing."""
    events: list[Event] = []
    kts: int = 0
    """Kafka timestamp (ms) of the newest input message, for the decision latency metric."""
    rid: str | None = None
    """The rollout of every event. None: written by an ingest that validated before
    forwarding (events of any rollouts, all valid)."""
    batched: bool = False
    """The events came out of batch messages (a dead letter then names its index)."""
    prev: int | None = None
    """Position of the event the ingest forwarded before these (rollout ``rid``, partition
    ``src``); None after the ingest (re)started reading: no claim."""
    first: int | None = None
    """With ``batch``: position of its first event (the others follow one by one)."""
    batch: Batch | None = None
    """A batch message forwarded whole, all its events of rollout ``rid`` (instead of
    ``offsets`` and ``events``): the ingest then skips splitting it into events."""


class _RawItems(msgspec.Struct):
    events: list[msgspec.Raw]
    v: object = None


class _RawEnvelope(msgspec.Struct, frozen=True):
    src: int
    offsets: list[int] = []
    events: list[msgspec.Raw] = []
    kts: int = 0
    rid: str | None = None
    batched: bool = False
    prev: int | None = None
    first: int | None = None
    batch: _RawItems | None = None


def _body(envelope: Envelope | _RawEnvelope) -> tuple[Sequence[int], list[Any]]:
    """Each event's source position, and the events (of an envelope :func:`_check` passed)."""
    if envelope.batch is None:
        return envelope.offsets, envelope.events
    first = envelope.first
    assert first is not None  # _check
    return range(first, first + len(envelope.batch.events)), envelope.batch.events


_DECODER: Final = msgspec.json.Decoder(Envelope)
_RAW_DECODER: Final = msgspec.json.Decoder(_RawEnvelope)
_BUNDLE_DECODER: Final = msgspec.json.Decoder(list[Envelope])
_RAW_BUNDLE_DECODER: Final = msgspec.json.Decoder(list[msgspec.Raw])


def encode_envelope(
    src: int,
    offsets: list[int],
    raw_events: list[bytes],
    kts: int,
    rid: str,
    *,
    batched: bool = False,
    prev: int | None = None,
) -> bytes:
    """Join event JSON into an envelope without decoding or re-encoding the events."""
    return b"".join(
        (
            b'{"src":',
            str(src).encode(),
            b',"rid":',
            orjson.dumps(rid),
            b',"batched":true' if batched else b"",
            b"" if prev is None else b',"prev":%d' % prev,
            b',"offsets":',
            orjson.dumps(offsets),
            b',"kts":',
            str(kts).encode(),
            b',"events":[',
            b",".join(raw_events),
            b"]}",
        )
    )


def encode_whole(
    src: int, first: int, batch: bytes, kts: int, rid: str, *, prev: int | None = None
) -> bytes:
    """A batch message of rollout ``rid`` as an envelope, its bytes as they came: events at
    positions ``first``, ``first + 1``, ... (the ingest checked its version and rollouts)."""
    return b"".join(
        (
            b'{"src":%d,"rid":' % src,
            orjson.dumps(rid),
            b',"batched":true',
            b"" if prev is None else b',"prev":%d' % prev,
            b',"first":%d,"kts":%d,"batch":' % (first, kts),
            batch,
            b"}",
        )
    )


def encode_bundle(envelopes: list[bytes]) -> bytes:
    """Envelopes (from :func:`encode_envelope`) as one message, in order."""
    return b"".join((b"[", b",".join(envelopes), b"]"))


def decode_envelope(data: bytes) -> Envelope:
    """Strict decode; raises ``msgspec.DecodeError``/``ValidationError`` (or ValueError)."""
    envelope = _DECODER.decode(data)
    _check(envelope)
    return envelope


@dataclass(slots=True)
class Taken:
    """What one envelope adds: events to apply, dead letters to write, its Kafka time."""

    events: list[Event] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    kts: int = 0
    rid: str | None = None
    gap: bool = False
    """Set aside: an envelope sent before it has not arrived (see the module's notes)."""


def take_all(
    data: bytes,
    hwm: dict[str, dict[int, int]],
    decoder: Decoder,
    topic: str,
    now: float | None = None,
) -> list[Taken]:
    """:func:`take` of each envelope of a ``by_rollout`` message (one envelope, or a
    bundle), in order. Raises (and changes nothing) when an envelope of it is not one a
    rollguard ingest wrote.

    >>> from topics.codec import encode_event
    >>> from topics.events import Metric
    >>> e = Metric(v=1, rollout_id="a", variant="canary", ts=1.7e9, name="x", value=1.0)
    >>> one, bad = encode_event(e), b'{"kind":"metric","rollout_id":"b"}'
    >>> hwm = {}
    >>> data = encode_bundle([encode_envelope(0, [5], [one], 0, "a"),
    ...                       encode_envelope(1, [7], [bad], 0, "b")])
    >>> [(t.rid, len(t.events), [d.reason for d in t.dead]) for t in take_all(data, hwm,
    ...                                                                    Decoder(), "t")]
    [('a', 1, []), ('b', 0, ['missing_field'])]
    >>> hwm
    {'a': {0: 5}, 'b': {1: 7}}
    """
    if data[:1] != b"[":
        return [take(data, hwm, decoder, topic, now)]
    try:
        envelopes = _BUNDLE_DECODER.decode(data)
    except msgspec.ValidationError:  # some envelope holds a bad event: each on its own
        parts = [bytes(part) for part in _RAW_BUNDLE_DECODER.decode(data)]
        for part in parts:  # refuse the message before anything changes
            _check(_RAW_DECODER.decode(part), raw=True)
        return [take(part, hwm, decoder, topic, now) for part in parts]
    for envelope in envelopes:
        _check(envelope)
    proven = names_proven(data)
    return [
        _take_valid(envelope, _BundlePart(data, index), hwm, decoder, topic, now, proven)
        for index, envelope in enumerate(envelopes)
    ]


@dataclass(slots=True)
class _BundlePart:
    """The raw form of a bundle's ``index``-th envelope, made only when it is needed."""

    data: bytes
    index: int

    def __call__(self) -> _RawEnvelope:
        return _RAW_DECODER.decode(_RAW_BUNDLE_DECODER.decode(self.data)[self.index])


def take(
    data: bytes,
    hwm: dict[str, dict[int, int]],
    decoder: Decoder,
    topic: str,
    now: float | None = None,
) -> Taken:
    """The envelope's events not applied before (valid ones to apply, bad ones as dead
    letters of ``topic``), advancing ``hwm`` past all of them.

    Raises (and changes nothing) when ``data`` is not an envelope a rollguard ingest wrote.
    ``now``: dead-letter events whose ``ts`` is far from it (``Decoder`` rules).

    >>> from topics.codec import encode_event
    >>> from topics.events import Metric
    >>> e = Metric(v=1, rollout_id="r1", variant="canary", ts=1.7e9, name="x", value=1.0)
    >>> hwm = {}
    >>> data = encode_envelope(0, [5, 6], [encode_event(e)] * 2, 0, "r1")
    >>> len(take(data, hwm, Decoder(), "t").events), hwm
    (2, {'r1': {0: 6}})
    >>> bad = encode_envelope(0, [6, 7], [encode_event(e), b'{"kind":"metric"}'], 0, "r1")
    >>> out = take(bad, hwm, Decoder(), "t")
    >>> out.events, [(d.reason, d.offset) for d in out.dead], hwm
    ([], [('missing_field', 0)], {'r1': {0: 7}})
    """
    try:
        envelope = _DECODER.decode(data)
    except msgspec.ValidationError:  # an event (or the header) is bad: look closer
        raw = _RAW_DECODER.decode(data)
        _check(raw, raw=True)
        assert raw.rid is not None  # _check
        start = _advance(raw.rid, raw.src, _body(raw)[0], hwm, raw.prev)
        if start is None or isinstance(start, _Gap):
            return Taken([], [], raw.kts, raw.rid, start is GAP)
        return _validate(raw, start, decoder, topic, now)
    _check(envelope)
    raw_of = partial(_RAW_DECODER.decode, data)
    return _take_valid(envelope, raw_of, hwm, decoder, topic, now, names_proven(data))


def _take_valid(
    envelope: Envelope,
    raw_of: Callable[[], _RawEnvelope],
    hwm: dict[str, dict[int, int]],
    decoder: Decoder,
    topic: str,
    now: float | None,
    names_ok: bool,
) -> Taken:
    """:func:`take` of an envelope that passed the strict decode (``raw_of``: its raw form,
    for the event-by-event look when a check the decode cannot make fails; ``names_ok``:
    its names are known valid, :func:`~topics.names.names_proven`)."""
    rid = envelope.rid
    if rid is None:
        return Taken(fresh_events(envelope, hwm), [], envelope.kts)
    offsets, events = _body(envelope)
    start = _advance(rid, envelope.src, offsets, hwm, envelope.prev)
    if start is None or isinstance(start, _Gap):
        return Taken([], [], envelope.kts, rid, start is GAP)
    if start:
        events = events[start:]
    if envelope.src == SELF_SOURCE:
        now = None  # worker-made: their ts is the last event's, however old
    # what the strict pass leaves to check: version, owner, clock (C-level loops: they run
    # for every event applied)
    count = len(events)
    if (
        list(map(_VERSION, events)).count(SCHEMA_VERSION) != count
        or list(map(_ROLLOUT, events)).count(rid) != count
        or (now is not None and not _within(events, *decoder.time_bounds(now)))
        or not (names_ok or names_known(events))  # a new name, maybe a bad one
    ):
        return _validate(raw_of(), start, decoder, topic, now)  # judge event by event
    return Taken(events, [], envelope.kts, rid)


_VERSION: Final = operator.attrgetter("v")
_ROLLOUT: Final = operator.attrgetter("rollout_id")
_TS: Final = operator.attrgetter("ts")


def _within(events: list[Event], low: float, high: float) -> bool:
    return bool(low <= min(map(_TS, events)) and max(map(_TS, events)) <= high)


def _check(envelope: Envelope | _RawEnvelope, raw: bool = False) -> None:
    """Raises ValueError when ``envelope`` is not one a rollguard ingest wrote (``raw``: it
    holds an invalid event, which only an envelope with ``rid`` may)."""
    if envelope.rid is None and (raw or envelope.batch is not None):
        raise ValueError("envelope without rid holds invalid events or a whole batch")
    if envelope.batch is not None:
        count = len(envelope.batch.events)
        if envelope.offsets or envelope.events or not envelope.batched:
            raise ValueError("envelope of a whole batch with events of its own")
        if envelope.batch.v != SCHEMA_VERSION:
            raise ValueError(f"forwarded batch of version {envelope.batch.v}")
        if envelope.first is None:
            raise ValueError("forwarded batch without the position of its first event")
        if envelope.first < 0 or count > POSITION_SCALE:
            raise ValueError(f"forwarded batch of {count} events at position {envelope.first}")
        return
    offsets, count = envelope.offsets, len(envelope.events)
    if len(offsets) != count:
        raise ValueError(f"envelope has {count} events but {len(offsets)} offsets")
    if envelope.rid is not None and not all(map(operator.lt, offsets, offsets[1:])):
        raise ValueError("envelope positions are not strictly increasing")


class _Gap:
    def __repr__(self) -> str:
        return "GAP"


GAP: Final = _Gap()


def _advance(
    rid: str, src: int, offsets: Sequence[int], hwm: dict[str, dict[int, int]], prev: int | None
) -> int | _Gap | None:
    """Index of the envelope's first event not applied before (None: all were), with
    ``hwm`` moved past the envelope; GAP, ``hwm`` unchanged, when events forwarded before
    it were not applied (also when none of its rollout and partition ever was: marks are
    kept as long as the partition is owned, and checkpointed with it)."""
    marks = hwm.get(rid)
    if marks is None:
        marks = hwm[rid] = {}
    if src == SELF_SOURCE:
        return 0 if offsets else None
    mark = marks.get(src, -1)
    if prev is not None and prev > mark:
        return GAP
    start = bisect_right(offsets, mark)
    if start == len(offsets):
        return None
    marks[src] = offsets[-1]
    return start


def _validate(
    raw: _RawEnvelope, start: int, decoder: Decoder, topic: str, now: float | None
) -> Taken:
    """Event by event, as the ``Decoder`` would judge them in their original messages."""
    out = Decoded()
    offsets, items = _body(raw)
    for position, item in zip(offsets[start:], items[start:], strict=True):
        offset, index = divmod(position, POSITION_SCALE)
        source = Source(topic, raw.src, offset)
        if raw.batched:
            one = decoder.decode_item(bytes(item), source, now, index)
        else:
            one = decoder.decode(bytes(item), source, now)
        for event in one.events:
            if event.rollout_id == raw.rid:
                out.events.append(event)
            else:  # never written by a rollguard ingest
                one.dead.append(
                    DeadLetter(
                        reason="invalid",
                        message=f"event of rollout {event.rollout_id!r} in an envelope of "
                        f"{raw.rid!r}",
                        original=bytes(item),
                        topic=topic,
                        partition=raw.src,
                        offset=offset,
                        index=index if raw.batched else None,
                    )
                )
        out.dead += one.dead
    return Taken(out.events, out.dead, raw.kts, raw.rid)


def fresh_events(envelope: Envelope, hwm: dict[str, dict[int, int]]) -> list[Event]:
    """The events of an envelope without ``rid`` not applied before, advancing ``hwm``.

    ``hwm`` maps rollout id -> {source partition: highest position applied}; every rollout
    met is registered in it (the processor's list of the partition's rollouts).

    >>> from topics.events import Metric
    >>> e = Metric(v=1, rollout_id="r1", variant="canary", ts=1.7e9, name="x", value=1.0)
    >>> hwm = {}
    >>> len(fresh_events(Envelope(src=0, offsets=[5, 6], events=[e, e]), hwm)), hwm
    (2, {'r1': {0: 6}})
    >>> len(fresh_events(Envelope(src=0, offsets=[6, 7], events=[e, e]), hwm)), hwm
    (1, {'r1': {0: 7}})
    """
    if envelope.src == SELF_SOURCE:
        for event in envelope.events:
            hwm.setdefault(event.rollout_id, {})
        return list(envelope.events)
    src = envelope.src
    fresh: list[Event] = []
    for position, event in zip(envelope.offsets, envelope.events, strict=True):
        marks = hwm.get(event.rollout_id)
        if marks is None:
            marks = hwm[event.rollout_id] = {}
        if position <= marks.get(src, -1):
            continue
        marks[src] = position
        fresh.append(event)
    return fresh
