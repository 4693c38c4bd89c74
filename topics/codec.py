"""Bytes in, events or dead letters out. Never raises on input.

The fast path decodes and validates the whole message in one msgspec pass (a single event
or a :class:`~topics.events.Batch` envelope). Only when that fails does it look closer, to
give the precise reason and, for a batch, to keep the good events and dead-letter only the
bad ones. Every input is accounted for exactly once: each event of a message is either in
``Decoded.events`` or in ``Decoded.dead`` (a message that is not even a readable envelope is
one dead letter).
"""

from __future__ import annotations

import logging
import math
import operator
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from topics.deadletters import (
    NO_SOURCE,
    DeadLetter,
    DlqReason,
    Source,
    classify,
    dead_letter,
)
from topics.events import SCHEMA_VERSION, Batch, Event
from topics.limits import MAX_JSON_DEPTH, json_depth_error
from topics.names import name_error, names_known

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES: Final = 1 << 20
MAX_BATCH_EVENTS: Final = 10_000
MAX_CLOCK_SKEW_S: Final = 2.0
"""How far ahead of the worker's clock an event may be stamped (the default allowed
lateness of plans: an event inside it cannot make an on-time event late; see
``docs/event-time.md``)."""


@dataclass(slots=True)
class Decoded:
    events: list[Event] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


_MESSAGE_DECODER: Final = msgspec.json.Decoder(Event | Batch)
_EVENT_DECODER: Final = msgspec.json.Decoder(Event)


class _RawBatch(msgspec.Struct, kw_only=True):
    v: Any = None
    events: list[msgspec.Raw]


_RAW_BATCH_DECODER: Final = msgspec.json.Decoder(_RawBatch)
_ENCODER: Final = msgspec.json.Encoder()
_VERSION: Final = operator.attrgetter("v")
_TS: Final = operator.attrgetter("ts")


class Decoder:
    """Validate telemetry messages.

    Parameters
    ----------
    max_message_bytes
        Larger messages are dead-lettered as ``oversized_message`` without parsing.
    max_batch_events
        Larger batch envelopes are dead-lettered whole as ``oversized_batch``.
    max_depth
        Messages nested deeper are dead-lettered as ``too_deep`` without parsing.
    max_future_s, max_past_s
        With ``now`` passed to :meth:`decode`, events stamped more than ``max_future_s``
        after ``now`` are ``future_timestamp``, and (unless ``max_past_s`` is None) more than
        ``max_past_s`` before it ``stale_timestamp``. Without ``now`` (offline replay) only
        the schema's absolute range (years 2000-2100, ``bad_timestamp``) applies.

    Examples
    --------
    >>> d = Decoder()
    >>> out = d.decode(b'{"kind":"metric","v":1,"rollout_id":"r1","variant":"canary",'
    ...                b'"ts":1700000000,"name":"cpu","value":0.5}')
    >>> [type(e).__name__ for e in out.events], out.dead
    (['Metric'], [])
    >>> d.decode(b'not json').dead[0].reason
    'not_json'
    """

    def __init__(
        self,
        *,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        max_batch_events: int = MAX_BATCH_EVENTS,
        max_depth: int = MAX_JSON_DEPTH,
        max_future_s: float = MAX_CLOCK_SKEW_S,
        max_past_s: float | None = None,
    ) -> None:
        self.max_message_bytes = max_message_bytes
        self.max_batch_events = max_batch_events
        self.max_depth = max_depth
        self.max_future_s = max_future_s
        self.max_past_s = max_past_s

    def time_bounds(self, now: float) -> tuple[float, float]:
        """The ``ts`` range accepted at wall-clock time ``now``."""
        low = -math.inf if self.max_past_s is None else now - self.max_past_s
        return low, now + self.max_future_s

    def decode(
        self, data: bytes | None, source: Source = NO_SOURCE, now: float | None = None
    ) -> Decoded:
        """The message's valid events and dead letters (a value that is not bytes, e.g. a
        tombstone's None, is one ``wrong_type`` dead letter)."""
        if type(data) is bytes:
            fast = self._fast(data, now)
            if fast is not None:
                return fast
        out = Decoded()
        try:
            self._decode_into(data, source, now, out)
        except Exception as exc:  # the boundary of one message: never an exception out
            out = Decoded(dead=[_internal_error(exc, data or b"", source)])
        return out

    def _fast(self, data: bytes, now: float | None) -> Decoded | None:
        """The usual message, in one pass and no dead letter: it decodes, is of this
        version, within the clock bounds, and holds only names seen valid before (a single
        event, or a batch of them). None: not sure, so the full path decides (it decodes
        again, from scratch, and gives the reasons). Each check is one the full path makes,
        so both agree on every message this one accepts.

        A single event took 3.3-3.5 µs in the full path, of which msgspec's decode is 1.3:
        the rest was calls, checks made twice and a set look-up per name
        (``python -m tests.bench.core.replay``).
        """
        try:
            if len(data) > self.max_message_bytes:
                return None
            if json_depth_error(data, self.max_depth) is not None:  # a count for one event
                return None
            message = _MESSAGE_DECODER.decode(data)
            if type(message) is Batch:
                return self._fast_batch(message, now)
            if message.v != SCHEMA_VERSION or not names_known((message,)):
                return None
            if now is not None:
                low, high = self.time_bounds(now)
                if not low <= message.ts <= high:
                    return None
        except Exception:  # whatever it is, the full path judges it and says why
            return None
        return Decoded([message], [])

    def _fast_batch(self, message: Batch, now: float | None) -> Decoded | None:
        events = message.events
        if (
            message.v != SCHEMA_VERSION
            or len(events) > self.max_batch_events
            or list(map(_VERSION, events)).count(SCHEMA_VERSION) != len(events)
            or not names_known(events)
        ):
            return None
        if now is not None and events:
            low, high = self.time_bounds(now)
            stamps = list(map(_TS, events))
            if not (low <= min(stamps) and max(stamps) <= high):
                return None
        return Decoded(events, [])

    def decode_item(
        self,
        data: bytes,
        source: Source = NO_SOURCE,
        now: float | None = None,
        index: int | None = None,
    ) -> Decoded:
        """One event of a batch envelope, given as its own JSON bytes: the checks, reasons
        and messages it gets inside :meth:`decode` of its whole batch.

        >>> d = Decoder()
        >>> d.decode_item(b'{"kind":"metric","v":1}', index=3).dead[0].reason
        'missing_field'
        """
        out = Decoded()
        try:
            self._single(bytes(data), source, now, out, index)
        except Exception as exc:  # the boundary of one event: never an exception out
            out = Decoded(dead=[_internal_error(exc, data, source, index)])
        return out

    def _decode_into(
        self, data: bytes | None, source: Source, now: float | None, out: Decoded
    ) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            out.dead.append(dead_letter("wrong_type", "message value is not bytes", b"", source))
            return
        data = bytes(data)
        if len(data) > self.max_message_bytes:
            out.dead.append(
                dead_letter(
                    "oversized_message",
                    f"{len(data)} bytes > limit {self.max_message_bytes}",
                    data,
                    source,
                )
            )
            return
        shape = json_depth_error(data, self.max_depth)
        if shape is not None:
            reason: DlqReason = "not_json" if "pair" in shape else "too_deep"
            out.dead.append(dead_letter(reason, shape, data, source))
            return
        try:
            message = _MESSAGE_DECODER.decode(data)
        except msgspec.ValidationError:
            self._slow_path(data, source, now, out)
            return
        except msgspec.DecodeError as exc:
            out.dead.append(dead_letter("not_json", str(exc), data, source))
            return
        if isinstance(message, Batch):
            if message.v != SCHEMA_VERSION:
                out.dead.append(
                    dead_letter("unknown_version", _version_msg(message.v), data, source)
                )
            elif len(message.events) > self.max_batch_events:
                out.dead.append(_oversized_batch(len(message.events), self, data, source))
            else:
                for index, event in enumerate(message.events):
                    self._accept(event, data, source, now, out, index)
        else:
            self._accept(message, data, source, now, out, None)

    def _accept(
        self,
        event: Event,
        data: bytes,
        source: Source,
        now: float | None,
        out: Decoded,
        index: int | None,
    ) -> None:
        if event.v != SCHEMA_VERSION:
            original = data if index is None else _ENCODER.encode(event)
            out.dead.append(
                dead_letter("unknown_version", _version_msg(event.v), original, source, index)
            )
            return
        bad_name = name_error(event)  # where a pattern check during decoding would fail
        if bad_name is not None:
            original = data if index is None else _ENCODER.encode(event)
            out.dead.append(dead_letter("invalid", bad_name, original, source, index))
            return
        if now is not None:
            low, high = self.time_bounds(now)
            if not low <= event.ts <= high:
                original = data if index is None else _ENCODER.encode(event)
                out.dead.append(self._clockdead_letter(event.ts, now, original, source, index))
                return
        out.events.append(event)

    def _clockdead_letter(
        self, ts: float, now: float, original: bytes, source: Source, index: int | None
    ) -> DeadLetter:
        ahead = ts - now
        if ahead > 0:
            return dead_letter(
                "future_timestamp",
                f"ts {ts} is {ahead:.3f} s ahead of this worker's clock (allowed "
                f"{self.max_future_s:g} s): it would move the rollout's watermark ahead",
                original,
                source,
                index,
            )
        return dead_letter(
            "stale_timestamp",
            f"ts {ts} is {-ahead:.0f} s old (allowed {self.max_past_s:g} s)",
            original,
            source,
            index,
        )

    def _slow_path(self, data: bytes, source: Source, now: float | None, out: Decoded) -> None:
        """The fast typed decode failed: find out why, keeping what can be kept."""
        try:
            raw = msgspec.json.decode(data)
        except msgspec.ValidationError as exc:  # valid JSON, but e.g. 1e999 overflows
            if not self._overflowing_batch(data, source, now, out):
                out.dead.append(dead_letter("absurd_value", str(exc), data, source))
            return
        except msgspec.DecodeError as exc:
            out.dead.append(dead_letter("not_json", str(exc), data, source))
            return
        if not isinstance(raw, dict):
            kind = type(raw).__name__
            out.dead.append(
                dead_letter("wrong_type", f"expected a JSON object, got {kind}", data, source)
            )
            return
        if "v" not in raw:
            out.dead.append(
                dead_letter("missing_field", "Object missing required field `v`", data, source)
            )
            return
        if raw["v"] != SCHEMA_VERSION:
            out.dead.append(dead_letter("unknown_version", _version_msg(raw["v"]), data, source))
            return
        if raw.get("kind") != "batch":
            self._single(data, source, now, out, None)
            return
        try:
            batch = _RAW_BATCH_DECODER.decode(data)
        except msgspec.ValidationError as exc:
            out.dead.append(dead_letter(classify(exc), f"batch envelope: {exc}", data, source))
            return
        if len(batch.events) > self.max_batch_events:
            out.dead.append(_oversized_batch(len(batch.events), self, data, source))
            return
        for index, item in enumerate(batch.events):
            self._single(bytes(item), source, now, out, index)

    def _overflowing_batch(
        self, data: bytes, source: Source, now: float | None, out: Decoded
    ) -> bool:
        """A batch whose only fault is a number overflow inside some events."""
        try:
            batch = _RAW_BATCH_DECODER.decode(data)
        except msgspec.DecodeError:
            return False
        if batch.v != SCHEMA_VERSION or len(batch.events) > self.max_batch_events:
            return False
        for index, item in enumerate(batch.events):
            self._single(bytes(item), source, now, out, index)
        return True

    def _single(
        self, data: bytes, source: Source, now: float | None, out: Decoded, index: int | None
    ) -> None:
        try:
            event = _EVENT_DECODER.decode(data)
        except msgspec.ValidationError as exc:
            reason = classify(exc)
            if reason != "unknown_version":
                version = _peek_version(data)
                if version is not None and version != SCHEMA_VERSION:
                    reason = "unknown_version"
            out.dead.append(dead_letter(reason, str(exc), data, source, index))
            return
        except msgspec.DecodeError as exc:  # pragma: no cover - Raw items are valid JSON
            out.dead.append(dead_letter("not_json", str(exc), data, source, index))
            return
        self._accept(event, data, source, now, out, index)


def _internal_error(
    exc: Exception, data: bytes, source: Source, index: int | None = None
) -> DeadLetter:
    """A message the decoder failed on: a bug, logged with its traceback, never raised."""
    log.error("codec: decoder failed on a message (%s)", type(exc).__name__, exc_info=exc)
    return dead_letter("internal_error", f"decoder error: {exc!r}", data, source, index)


def _peek_version(data: bytes) -> object:
    try:
        raw = msgspec.json.decode(data)
    except msgspec.DecodeError:  # includes ValidationError (number overflow)
        return None
    return raw.get("v", SCHEMA_VERSION) if isinstance(raw, dict) else None


def _version_msg(version: object) -> str:
    return f"schema version {version!r} is not supported (this build reads {SCHEMA_VERSION})"


def _oversized_batch(n: int, decoder: Decoder, data: bytes, source: Source) -> DeadLetter:
    return dead_letter(
        "oversized_batch", f"{n} events > limit {decoder.max_batch_events}", data, source
    )


def encode_event(event: Event) -> bytes:
    """One event as one message."""
    return _ENCODER.encode(event)


def encode_batch(events: list[Event], producer: str | None = None) -> bytes:
    """Many events as one batch envelope."""
    return _ENCODER.encode(Batch(v=SCHEMA_VERSION, events=events, producer=producer))
