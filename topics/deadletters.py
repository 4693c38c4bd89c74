"""Dead letters: what rollguard could not use, where it came from, and why (one reason code).

Every stage that refuses input (the telemetry decoder, the by_rollout envelope path, the
control-plane gate) writes one of these to the dead-letter topic with the original bytes, so
nothing is lost and each refusal can be counted, read and re-sent.
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal, NamedTuple

import msgspec

from topics.events import doc

DlqReason = Literal[
    "not_json",
    "wrong_type",
    "missing_field",
    "unknown_version",
    "unknown_enum",
    "absurd_value",
    "bad_timestamp",
    "invalid",
    "oversized_message",
    "oversized_batch",
    "too_deep",  # nested deeper than topics.limits.MAX_JSON_DEPTH: refused before parsing
    "future_timestamp",  # ts further ahead of the worker's clock than its allowed skew
    "stale_timestamp",  # ts older than the worker's max event age (when one is set)
    "rollout_limit",  # a new rollout while the worker holds its maximum of rollouts
    "internal_error",  # rollguard failed on it (a bug, logged with its traceback)
    # control-plane events (plan, signoff) without a valid operator signature:
    # topics.control_plane
    "unsigned",
    "unknown_key",
    "bad_signature",
    "not_authorized",
    "duplicate_key",
]
DLQ_REASONS: Final[tuple[DlqReason, ...]] = DlqReason.__args__  # type: ignore[attr-defined]  # a Literal's values: typing has no public accessor


class Source(NamedTuple):
    """Where a message came from (all optional for offline use)."""

    topic: str = ""
    partition: int = -1
    offset: int = -1


class DeadLetter(msgspec.Struct, kw_only=True, frozen=True):
    """A message (or one event of a batch) that rollguard could not use, and why."""

    reason: Annotated[DlqReason, doc("Machine-readable reason code.")]
    message: Annotated[str, doc("What exactly was wrong, for a human.")]
    original: Annotated[bytes, doc("The original bytes (base64 in JSON).")]
    topic: Annotated[str, doc("Source topic ('' offline).")] = ""
    partition: Annotated[int, doc("Source partition (-1 offline).")] = -1
    offset: Annotated[int, doc("Source offset (-1 offline).")] = -1
    index: Annotated[int, doc("Position inside a batch envelope.")] | None = None


NO_SOURCE: Final = Source()


REASON_PATTERNS: Final[tuple[tuple[re.Pattern[str], DlqReason], ...]] = (
    (
        re.compile(r"[<>]=? [\d.e+]+ - at `\$(\.events\[\d+\])?\.(ts|last_event_ts)`"),
        "bad_timestamp",
    ),
    (re.compile(r"missing required field"), "missing_field"),
    (
        re.compile(r"Invalid enum value|Invalid value '.*' - at `\$(\.events\[\d+\])?\.kind`"),
        "unknown_enum",
    ),
    (re.compile(r"Expected `[\w |]+`, got `\w+`|Expected `(object|array)`"), "wrong_type"),
    (
        re.compile(r"Expected `\w+` [<>]=?|Number out of range|exceeds|needs"),
        "absurd_value",
    ),
)


def classify(error: msgspec.ValidationError) -> DlqReason:
    text = str(error)
    for pattern, reason in REASON_PATTERNS:
        if pattern.search(text):
            return reason
    return "invalid"


def dead_letter(
    reason: DlqReason, message: str, data: bytes, source: Source, index: int | None = None
) -> DeadLetter:
    return DeadLetter(
        reason=reason,
        message=message[:1024],
        original=data,
        topic=source.topic,
        partition=source.partition,
        offset=source.offset,
        index=index,
    )


_ENCODER: Final = msgspec.json.Encoder()


def encode_dead_letter(dead: DeadLetter) -> bytes:
    """A dead letter as JSON (``original`` is base64, as msgspec encodes bytes)."""
    return _ENCODER.encode(dead)


def decode_dead_letter(data: bytes) -> DeadLetter:
    return msgspec.json.decode(data, type=DeadLetter)
