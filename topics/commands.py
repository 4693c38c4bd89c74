"""Control command contract: what rollguard publishes and orchestrators obey.

A command is signed with HMAC-SHA256 over its *canonical JSON*: the command without its
``signature`` field, object keys sorted, no whitespace, UTF-8 (``canonical_bytes``). The key
is named by ``key_id`` so keys can be rotated: a verifier holds several keys at once.

``command_id`` is the idempotency key. It is derived from (rollout, stage, rule set version,
action, sequence), so a decision re-made after a worker restart has the same id and
orchestrators drop the duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

import msgspec
import orjson
from msgspec import Meta

from topics.events import EventTime, doc

COMMAND_SCHEMA_VERSION: Final = 1

ALL_ROLLOUTS: Final = "*"
"""``rollout_id`` of a command that applies to every rollout (``rollguard kill --all``)."""

RolloutTarget = Annotated[
    str, Meta(min_length=1, max_length=128, pattern=r"^(\*|[A-Za-z0-9_.:/@+-]+)$")
]
"""A rollout name (``topics.events.Name``) or ``*`` for all rollouts."""

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


class Evidence(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
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
    samples: Annotated[int, doc("Events behind the observed value.")] | None = None
    from_ts: Annotated[float, doc("Event time the evidence window starts.")] | None = None
    to_ts: Annotated[float, doc("Event time the evidence window ends.")] | None = None
    stats: Annotated[dict[str, float], doc("Test statistics (p_value, e_value, ...).")] = {}
    examples: Annotated[list[str], doc("Correlation ids of example events.")] = []


class Command(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=False):
    """A signed control command on the control topic."""

    v: Annotated[int, doc("Command schema version; this build writes 1.")]
    command_id: Annotated[
        str, Meta(min_length=8, max_length=128), doc("Idempotency key (deterministic).")
    ]
    rollout_id: Annotated[RolloutTarget, doc("Rollout the command applies to; '*' means all.")]
    stage: Annotated[str, Meta(max_length=128), doc("Stage the rollout was in.")]
    action: Annotated[Action, doc("What the orchestrator must do.")]
    reason: Annotated[str, Meta(max_length=4096), doc("Human-readable explanation.")]
    rule: Annotated[str, Meta(max_length=256), doc("Deciding rule, if any.")] | None = None
    evidence: Annotated[list[Evidence], doc("Evidence per contributing rule.")] = []
    advisory: Annotated[bool, doc("Dry-run: report only, orchestrators must not act.")] = False
    seq: Annotated[int, Meta(ge=0), doc("Per-rollout decision sequence number.")] = 0
    rule_set_version: Annotated[str, doc("Version (hash) of the plan and rules.")] = ""
    issued_at: EventTime
    expires_at: EventTime
    monitor_version: Annotated[str, doc("rollguard version that decided.")] = ""
    issuer: Annotated[str, doc("worker, operator:<name>, ...")] = "worker"
    key_id: Annotated[str, Meta(max_length=64), doc("Signing key id.")] = ""
    signature: Annotated[str, Meta(max_length=128), doc("Hex HMAC-SHA256.")] = ""


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


def canonical_bytes(command: Command | Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: the command without ``signature``, keys sorted."""
    if isinstance(command, Command):
        body = msgspec.to_builtins(_as_decoded(command))
    else:
        body = dict(command)
    body.pop("signature", None)
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def _as_decoded(command: Command) -> Command:
    """``command`` as a verifier will see it after decoding the wire format.

    An int in a float field (``window_s=300``) is encoded as ``300`` and decodes as
    ``300.0``; signing the decoded form makes signer and verifier hash the same bytes.
    A command that would not decode is left as it is (verifiers reject it anyway).

    >>> e = Evidence(rule="r", signal="s", variant="canary", window_s=300)
    >>> c = Command(v=1, command_id="0123456789ab", rollout_id="r1", stage="s1",
    ...             action="pause", reason="x", issued_at=1.7e9, expires_at=1.7e9 + 300,
    ...             evidence=[e])
    >>> verify(decode_command(encode_command(sign(c, "k1", b"secret"))), {"k1": b"secret"})
    'ok'
    """
    try:
        return COMMAND_DECODER.decode(COMMAND_ENCODER.encode(command))
    except (msgspec.ValidationError, msgspec.DecodeError):
        return command


def sign(command: Command, key_id: str, key: bytes) -> Command:
    """Return ``command`` signed with ``key`` under ``key_id``.

    >>> c = Command(v=1, command_id="0123456789ab", rollout_id="r1", stage="s1",
    ...             action="pause", reason="x", issued_at=1.7e9, expires_at=1.7e9 + 300)
    >>> s = sign(c, "k1", b"secret")
    >>> verify(s, {"k1": b"secret"})
    'ok'
    >>> verify(msgspec.structs.replace(s, action="promote"), {"k1": b"secret"})
    'bad_signature'
    """
    unsigned = msgspec.structs.replace(command, key_id=key_id, signature="")
    mac = hmac.new(key, canonical_bytes(unsigned), hashlib.sha256).hexdigest()
    return msgspec.structs.replace(unsigned, signature=mac)


VerifyResult = Literal["ok", "unsigned", "unknown_key", "bad_signature"]


def verify(command: Command, keys: Mapping[str, bytes]) -> VerifyResult:
    """Check the signature of ``command`` against the accepted ``keys`` (id -> secret)."""
    if not command.signature or not command.key_id:
        return "unsigned"
    key = keys.get(command.key_id)
    if key is None:
        return "unknown_key"
    expected = hmac.new(key, canonical_bytes(command), hashlib.sha256).hexdigest()
    # compare bytes: compare_digest refuses str with non-ASCII characters (a mangled signature)
    given = command.signature.encode("utf-8", "surrogatepass")
    return "ok" if hmac.compare_digest(expected.encode(), given) else "bad_signature"


COMMAND_ENCODER: Final = msgspec.json.Encoder()
COMMAND_DECODER: Final = msgspec.json.Decoder(Command)


def encode_command(command: Command) -> bytes:
    return COMMAND_ENCODER.encode(command)


def decode_command(data: bytes) -> Command:
    """Decode and validate a command; raises ``msgspec.ValidationError``/``DecodeError``."""
    return COMMAND_DECODER.decode(data)
