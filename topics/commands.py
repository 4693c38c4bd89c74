"""Control command contract: what rollguard publishes and orchestrators obey.

A command is signed with Ed25519 over the RFC 8785 canonical form of the command as it is
on the wire, without its ``signature`` member (:mod:`topics.signing`, ``docs/signing.md``);
``key_id`` names the key, so keys rotate by id. Who may sign which command is
:mod:`topics.authority`; the full check an orchestrator makes is
:func:`monitor.orchestrators.check`.

``command_id`` is the idempotency key. It is derived from (rollout, stage, rule set version,
action, sequence), so a decision re-made after a worker restart has the same id and
orchestrators drop the duplicate.

Unknown fields are refused (the schema says ``additionalProperties: false``): a verifier
that ignored them would obey fields nobody signed for.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Final, Literal, NamedTuple

import msgspec
import orjson
from msgspec import Meta

from topics.events import EventTime, doc
from topics.keys import SigningKey
from topics.signing import SAFE_INTEGER, canonical

COMMAND_SCHEMA_VERSION: Final = 1

ALL_ROLLOUTS: Final = "*"
"""``rollout_id`` of a command that applies to every rollout (``rollguard kill --all``)."""

RolloutTarget = Annotated[
    str, Meta(min_length=1, max_length=128, pattern=r"^(\*|[A-Za-z0-9_.:/@+-]+)(?!\n)$")
]
"""A rollout name (``topics.events.Name``) or ``*`` for all rollouts. ``(?!\\n)``: Python's
``$`` would also match before a trailing newline; with it the pattern means the same in
Python and in ECMAScript (JSON Schema)."""
Count = Annotated[int, Meta(ge=0, le=SAFE_INTEGER)]
"""Integers stay within ±(2**53 − 1): what every JSON implementation reads exactly."""

Action = Literal[
    "halt",
    "rollback",
    "freeze",
    "pause",
    "reduce_scope",
    "hold",
    "promote",
    "proceed",
    "resume",
]
"""Ordered by precedence, strongest first (``resume`` is a human-only action)."""

ACTION_PRECEDENCE: Final[tuple[Action, ...]] = (
    "halt",
    "rollback",
    "freeze",
    "pause",
    "reduce_scope",
    "hold",
    "promote",
    "proceed",
    "resume",
)


class Evidence(
    msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True, forbid_unknown_fields=True
):
    """Why one rule contributed to a decision: the numbers a reviewer needs to agree."""

    rule: Annotated[str, doc("Rule name from the rule set.")]
    signal: Annotated[str, doc("Signal the rule watches (p99_latency_ms, error_rate, ...).")]
    variant: Annotated[str, doc("Variant the signal was measured on.")]
    segment: Annotated[dict[str, str], doc("Segment the signal was measured on.")] | None = None
    observed: Annotated[float, doc("Observed value of the signal.")] | None = None
    baseline: Annotated[float, doc("Baseline (learned or baseline variant) value.")] | None = None
    threshold: Annotated[float, doc("Threshold the observed value crossed.")] | None = None
    comparator: Annotated[str, doc("How observed was compared (>, <, ratio>, ...).")] = ">"
    window_s: Annotated[float, doc("Window the signal was computed over, seconds.")] | None = None
    for_s: Annotated[float, doc("How long the condition had to hold, seconds.")] | None = None
    samples: Annotated[Count, doc("Events behind the observed value.")] | None = None
    from_ts: Annotated[float, doc("Event time the evidence window starts.")] | None = None
    to_ts: Annotated[float, doc("Event time the evidence window ends.")] | None = None
    stats: Annotated[dict[str, float], doc("Test statistics (p_value, e_value, ...).")] = {}
    examples: Annotated[list[str], doc("Correlation ids of example events.")] = []


class Command(
    msgspec.Struct, kw_only=True, frozen=True, omit_defaults=False, forbid_unknown_fields=True
):
    """A signed control command on the control topic."""

    v: Annotated[int, doc("Command schema version; this build writes 1.")]
    command_id: Annotated[
        str,
        Meta(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+(?!\n)$"),
        doc("Idempotency key (deterministic)."),
    ]
    rollout_id: Annotated[RolloutTarget, doc("Rollout the command applies to; '*' means all.")]
    stage: Annotated[str, Meta(max_length=128), doc("Stage the rollout was in.")]
    action: Annotated[Action, doc("What the orchestrator must do.")]
    reason: Annotated[str, Meta(max_length=4096), doc("Human-readable explanation.")]
    rule: Annotated[str, Meta(max_length=256), doc("Deciding rule, if any.")] | None = None
    evidence: Annotated[list[Evidence], doc("Evidence per contributing rule.")] = []
    advisory: Annotated[bool, doc("Dry-run: report only, orchestrators must not act.")] = False
    seq: Annotated[Count, doc("Per-rollout decision sequence number.")] = 0
    rule_set_version: Annotated[
        str, Meta(max_length=128), doc("Version (hash) of the plan and rules.")
    ] = ""
    issued_at: EventTime
    expires_at: EventTime
    monitor_version: Annotated[str, Meta(max_length=64), doc("rollguard version that decided.")] = (
        ""
    )
    issuer: Annotated[
        str,
        Meta(max_length=73, pattern=r"^(worker|operator:[A-Za-z0-9][A-Za-z0-9_.@-]*)(?!\n)$"),
        doc("'worker' (a rule decision) or 'operator:<name>' (a person)."),
    ] = "worker"
    key_id: Annotated[
        str,
        Meta(max_length=64, pattern=r"^([A-Za-z0-9][A-Za-z0-9_.:-]*)?(?!\n)$"),
        doc("Id of the signing key in the verifier's key ring ('' when unsigned)."),
    ] = ""
    signature: Annotated[
        str,
        Meta(max_length=128),
        doc("Ed25519 over the RFC 8785 form without `signature`: 128 lowercase hex."),
    ] = ""


def command_id(rollout_id: str, stage: str, rule_set_version: str, action: str, seq: int) -> str:
    """Deterministic idempotency key of a decision.

    >>> command_id("r1", "canary-5", "abc", "rollback", 3) == command_id(
    ...     "r1", "canary-5", "abc", "rollback", 3)
    True
    >>> len(command_id("r1", "s", "v", "pause", 0))
    32
    """
    raw = "\x1f".join((rollout_id, stage, rule_set_version, action, str(seq)))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def wire_document(command: Command) -> dict[str, Any]:
    """``command`` as a verifier parses it from the wire (the form the signature covers)."""
    document: dict[str, Any] = orjson.loads(encode_command(command))
    return document


class SignedCommand(NamedTuple):
    """A signed command and its bytes on the control topic, made once (:func:`sign_command`):
    publishers send, and logs write, ``wire`` as it is."""

    command: Command
    wire: bytes


_UNSIGNED_TAIL: Final = b',"signature":""}'


def sign_command(command: Command, key: SigningKey) -> SignedCommand:
    """``command`` signed with ``key`` (``key_id`` set to the key's id), with its wire bytes.

    The command is serialised once: the signature covers the RFC 8785 form of those very
    bytes as a verifier parses them (an int in a float field, ``window_s=300``, is read
    as the verifier reads it), and is then written into them, so the bytes published are
    the bytes signed. ``signature`` is the struct's last field and always encoded.

    >>> from topics.keys import SigningKey
    >>> from topics.signing import verify_document
    >>> key = SigningKey.generate("w1", "worker")
    >>> c = Command(v=1, command_id="0123456789ab", rollout_id="r1", stage="s1",
    ...             action="pause", reason="x", issued_at=1.7e9, expires_at=1.7e9 + 300)
    >>> signed = sign_command(c, key)
    >>> signed.wire == encode_command(signed.command)
    True
    >>> verify_document(orjson.loads(signed.wire), key.ring(rollouts=("r1",)))[0]
    'ok'
    """
    unsigned = msgspec.structs.replace(command, key_id=key.key_id, signature="")
    wire = COMMAND_ENCODER.encode(unsigned)
    if not wire.endswith(_UNSIGNED_TAIL):  # a change to Command's fields broke the splice
        raise AssertionError("Command must end with its always-encoded signature field")
    signature = key.sign(canonical(orjson.loads(wire)))
    signed = b'%s"%s"}' % (wire[: -len(b'""}')], signature.encode())
    return SignedCommand(msgspec.structs.replace(unsigned, signature=signature), signed)


def sign(command: Command, key: SigningKey) -> Command:
    """``command`` signed with ``key`` (:func:`sign_command` without the wire bytes).

    >>> from topics.keys import SigningKey
    >>> from topics.signing import verify_document
    >>> key = SigningKey.generate("w1", "worker")
    >>> s = sign(Command(v=1, command_id="0123456789ab", rollout_id="r1", stage="s1",
    ...                  action="pause", reason="x", issued_at=1.7e9, expires_at=1.7e9), key)
    >>> verify_document(wire_document(msgspec.structs.replace(s, action="promote")),
    ...                 key.ring(rollouts=("r1",)))[0]
    'bad_signature'
    """
    return sign_command(command, key).command


COMMAND_ENCODER: Final = msgspec.json.Encoder()
COMMAND_DECODER: Final = msgspec.json.Decoder(Command)


def encode_command(command: Command) -> bytes:
    return COMMAND_ENCODER.encode(command)


def decode_command(data: bytes) -> Command:
    """Decode and validate a command, unverified (for display); raises
    ``msgspec.ValidationError``/``DecodeError``. Verifiers use ``monitor.orchestrators.check``."""
    return COMMAND_DECODER.decode(data)
