"""The internal batch envelope on the ``by_rollout`` topic (ingest → processor): its wire form.

One envelope holds events of ONE rollout (``rid``) read from ONE telemetry partition, in
offset order, with each event's source position. The processor keeps, per rollout and source
partition, the highest source position applied, and drops events at or below it: after an
ingest crash the events between its last commit and the crash are forwarded again, and this
makes the repartition step effectively exactly-once without Kafka transactions (whose open
transactions would stall read-committed readers for ``transaction.timeout.ms`` after a SIGKILL).
How the processor takes an envelope (dedupe, validation, dead letters) is
:mod:`monitor.worker.take`.

The ingest only routes: it reads each message's rollout ids and forwards the producers' own
event bytes (no decode into typed events, no re-encoding), so events are validated once, by
the processor. An envelope's body is one of:

* ``offsets`` + ``events``: the events' bytes, each with its source position;
* ``first`` + ``batch``: a batch message whose events are all of rollout ``rid``, forwarded
  whole, its bytes as they came, events at positions ``first``, ``first + 1``, ...: splitting
  it into its events' bytes and joining them again cost the ingest ~0.3 µs an event, a tenth
  of the worker's cost.

Both decode into the one :class:`Envelope`, whose :meth:`~Envelope.body` gives positions and
events alike. ``src = -1`` marks events made by a worker itself (silence), which are never
re-forwarded.

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

The wire form is what every rollguard ingest since per-rollout envelopes wrote, byte for byte
(``tests/unit/worker/test_envelope.py`` holds records the encoders wrote before the envelope
code was reworked into this one form), so workers of two versions share one ``by_rollout``
topic during a rolling upgrade, in both directions. The envelope without ``rid`` that an
ingest validating before forwarding once wrote was never in a release (0.1.0 is untagged);
it is refused, since nothing in it says whose marks it may move.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Final, Generic, TypeVar

import msgspec
import orjson

from topics.events import SCHEMA_VERSION, Event

SELF_SOURCE: Final = -1
POSITION_SCALE: Final = 1 << 14
"""An event's source position is ``offset * POSITION_SCALE + index in its message``: the
events of one batch-envelope message share an offset but not a position. Batch envelopes
hold at most ``topics.codec.MAX_BATCH_EVENTS`` (10,000) events, below this scale."""

E = TypeVar("E")
"""What an event is decoded into: ``Event`` (the strict pass) or ``msgspec.Raw`` (its bytes,
for the event-by-event look when the strict pass fails)."""


class Items(msgspec.Struct, Generic[E]):
    """A batch message forwarded whole: its version and events (``kind`` and ``producer``
    are not read: nothing is decided on them, and each event is judged on its own)."""

    events: list[E]
    v: object = None


class Envelope(msgspec.Struct, Generic[E], frozen=True):
    src: int
    """Telemetry partition the events were read from; -1 for worker-made events."""
    rid: str
    """The rollout of every event (an event of another rollout is dead-lettered)."""
    kts: int = 0
    """Kafka timestamp (ms) of the newest input message, for the decision latency metric."""
    batched: bool = False
    """The events came out of batch messages (a dead letter then names its index)."""
    prev: int | None = None
    """Position of the event the ingest forwarded before these (rollout ``rid``, partition
    ``src``); None after the ingest (re)started reading: no claim."""
    offsets: list[int] = []
    """Source position of each of ``events`` (see POSITION_SCALE), strictly increasing."""
    events: list[E] = []
    first: int | None = None
    """With ``batch``: position of its first event (the others follow one by one)."""
    batch: Items[E] | None = None
    """A batch message forwarded whole (instead of ``offsets`` and ``events``)."""

    def body(self) -> tuple[Sequence[int], list[E]]:
        """Each event's source position, and the events (of an envelope :func:`check`
        passed)."""
        if self.batch is None:
            return self.offsets, self.events
        first = self.first
        assert first is not None  # check()
        return range(first, first + len(self.batch.events)), self.batch.events


# a ``by_rollout`` record's value: one envelope or a bundle of them
STRICT: Final = msgspec.json.Decoder(Envelope[Event] | list[Envelope[Event]])
"""Decodes and validates every event in one pass (the usual case)."""
RAW: Final = msgspec.json.Decoder(Envelope[msgspec.Raw] | list[Envelope[msgspec.Raw]])
"""Splits a message into its envelopes and their events' bytes, for the look event by event."""


def envelopes_of(message: Envelope[E] | list[Envelope[E]]) -> list[Envelope[E]]:
    """The envelopes of a decoded message, each :func:`check`-ed: raises ValueError (before
    anything is taken) when one of them is not one a rollguard ingest wrote."""
    envelopes = message if isinstance(message, list) else [message]
    for envelope in envelopes:
        check(envelope)
    return envelopes


def check(envelope: Envelope[E]) -> None:
    """Raises ValueError when ``envelope`` is not one a rollguard ingest wrote."""
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
    if not all(map(operator.lt, offsets, offsets[1:])):
        raise ValueError("envelope positions are not strictly increasing")


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
    """Join event JSON into an envelope without decoding or re-encoding the events.

    >>> encode_envelope(0, [7], [b'{"kind":"metric"}'], 5, "r1", prev=3)
    b'{"src":0,"rid":"r1","prev":3,"offsets":[7],"kts":5,"events":[{"kind":"metric"}]}'
    """
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
    """Envelopes (from :func:`encode_envelope`, :func:`encode_whole`) as one message."""
    return b"".join((b"[", b",".join(envelopes), b"]"))
