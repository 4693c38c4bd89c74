"""The internal batch envelope on the ``by_rollout`` topic (ingest → processor).

One envelope holds events of ONE rollout read from ONE telemetry partition, in offset order,
with each event's source position. The processor keeps, per rollout and source partition,
the highest source position applied, and drops events at or below it: after an ingest crash the
events between its last commit and the crash are forwarded again, and this makes the
repartition step effectively exactly-once without Kafka transactions (whose open transactions
would stall read-committed readers for ``transaction.timeout.ms`` after a SIGKILL).

``src = -1`` marks events made by a worker itself (silence), which are never re-forwarded.
The events are the producers' own JSON bytes when they sent one event per message (no
re-encoding on the hot path); the processor validates them again as it decodes.
"""

from __future__ import annotations

from typing import Final

import msgspec
import orjson

from topics.events import Event

SELF_SOURCE: Final = -1
POSITION_SCALE: Final = 1 << 14
"""An event's source position is ``offset * POSITION_SCALE + index in its message``: the
events of one batch-envelope message share an offset but not a position. Batch envelopes
hold at most ``topics.codec.MAX_BATCH_EVENTS`` (10,000) events, below this scale."""


class Envelope(msgspec.Struct, frozen=True):
    src: int
    """Telemetry partition the events were read from; -1 for worker-made events."""
    offsets: list[int]
    """Source position of each event (see POSITION_SCALE)."""
    events: list[Event]
    kts: int = 0
    """Kafka timestamp (ms) of the newest input message, for the decision latency metric."""


_DECODER: Final = msgspec.json.Decoder(Envelope)


def encode_envelope(src: int, offsets: list[int], raw_events: list[bytes], kts: int) -> bytes:
    """Join already-validated event JSON into an envelope without re-encoding the events."""
    return b"".join(
        (
            b'{"src":',
            str(src).encode(),
            b',"offsets":',
            orjson.dumps(offsets),
            b',"kts":',
            str(kts).encode(),
            b',"events":[',
            b",".join(raw_events),
            b"]}",
        )
    )


def decode_envelope(data: bytes) -> Envelope:
    """Raises ``msgspec.DecodeError``/``ValidationError`` (or ValueError) on a bad envelope."""
    envelope = _DECODER.decode(data)
    if len(envelope.offsets) != len(envelope.events):
        raise ValueError(
            f"envelope has {len(envelope.events)} events but {len(envelope.offsets)} offsets"
        )
    return envelope


def fresh_events(envelope: Envelope, hwm: dict[str, dict[int, int]]) -> list[Event]:
    """The envelope's events not applied before, advancing ``hwm`` past them.

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
