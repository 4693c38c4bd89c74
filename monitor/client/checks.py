"""The stateless half of accepting a control command: bytes → a trusted ``Command`` or a reason.

Checks run in this order; the first failure is the reason:

1. ``oversized``: more than ``max_command_bytes`` (checked before parsing);
2. ``malformed``: not a valid command (JSON, types, ranges), an unknown field (the signature
   covers only known fields, so an unknown one is unauthenticated), or ``expires_at`` not
   after ``issued_at``;
3. ``unknown_version``: ``v`` other than the one this build understands;
4. ``unsigned``, ``unknown_key``, ``bad_signature``: see :func:`topics.commands.verify`
   (a forged command signed with a wrong secret, or any field changed after signing, is
   ``bad_signature``);
5. ``not_authorized``: a worker key may not sign ``resume`` (a human-only action) nor claim
   an ``operator:`` issuer; an operator key must sign with an ``operator:`` issuer;
6. ``expired`` (``expires_at`` + skew < now), ``not_yet_valid`` (``issued_at`` − skew > now),
   ``lifetime_too_long`` (``expires_at`` − ``issued_at`` > ``max_lifetime_s``): a validly
   signed command is only good for a bounded window of wall-clock time;
7. ``advisory``: dry-run commands are not delivered unless asked for.

The stateful checks (``duplicate``, ``replayed``) are in :mod:`monitor.client.store`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple

import msgspec

from monitor.errors import ConfigError
from topics.commands import (
    COMMAND_SCHEMA_VERSION,
    Command,
    VerifyResult,
    decode_command,
    verify,
)
from topics.keys import KeyRing

RejectReason = Literal[
    "oversized",
    "malformed",
    "unknown_version",
    "unsigned",
    "unknown_key",
    "bad_signature",
    "not_authorized",
    "expired",
    "not_yet_valid",
    "lifetime_too_long",
    "advisory",
    "duplicate",
    "replayed",
]
REJECT_REASONS: Final[tuple[RejectReason, ...]] = RejectReason.__args__  # type: ignore[attr-defined]
Trust = Literal["worker", "operator"]

OPERATOR_ISSUER_PREFIX: Final = "operator:"
HUMAN_ONLY_ACTIONS: Final = frozenset({"resume"})
COMMAND_FIELDS: Final = frozenset(Command.__struct_fields__)
_DICT_DECODER: Final = msgspec.json.Decoder(dict[str, Any])


@dataclass(frozen=True)
class Policy:
    """Limits a command must respect to be obeyed (all wall-clock, seconds)."""

    max_command_bytes: int = 64 * 1024
    clock_skew_s: float = 30.0
    max_lifetime_s: float = 86_400.0
    deliver_advisory: bool = False


@dataclass(frozen=True)
class TrustedKeys:
    """Who may sign: worker keys (automatic decisions) and operator keys (humans)."""

    worker: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    operator: Mapping[str, bytes] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        shared = set(self.worker) & set(self.operator)
        if shared:
            raise ConfigError(f"key ids used for both workers and operators: {sorted(shared)}")
        if not self.worker and not self.operator:
            raise ConfigError("no verification keys: give worker and/or operator keys")

    def __repr__(self) -> str:
        return f"TrustedKeys(worker={sorted(self.worker)}, operator={sorted(self.operator)})"

    @classmethod
    def from_rings(cls, worker: KeyRing | None, operator: KeyRing | None = None) -> TrustedKeys:
        """From ``topics.keys.KeyRing`` s (every key of a ring verifies, not only the active)."""
        return cls(
            worker=dict(worker.keys) if worker else {},
            operator=dict(operator.keys) if operator else {},
        )

    def verify(self, command: Command) -> tuple[VerifyResult, Trust | None]:
        if command.key_id in self.operator:
            return verify(command, self.operator), "operator"
        result = verify(command, self.worker)
        return result, ("worker" if result == "ok" else None)


class Accepted(NamedTuple):
    command: Command
    trust: Trust


class Rejected(NamedTuple):
    reason: RejectReason
    detail: str
    command: Command | None = None


def check(data: bytes, keys: TrustedKeys, policy: Policy, now: float) -> Accepted | Rejected:
    """Decide whether ``data`` is a command this client may obey at wall-clock ``now``."""
    if len(data) > policy.max_command_bytes:
        return Rejected("oversized", f"{len(data)} bytes > {policy.max_command_bytes}")
    try:
        unknown = set(_DICT_DECODER.decode(data)) - COMMAND_FIELDS
        command = decode_command(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return Rejected("malformed", _short(str(exc)))
    except Exception as exc:  # e.g. a __post_init__ error: still only "malformed", never raised
        return Rejected("malformed", _short(repr(exc)))
    if unknown:
        return Rejected("malformed", f"unknown fields {sorted(unknown)[:5]}", command)
    if command.v != COMMAND_SCHEMA_VERSION:
        return Rejected("unknown_version", f"v={command.v}", command)
    if command.expires_at <= command.issued_at:
        return Rejected("malformed", "expires_at is not after issued_at", command)
    result, trust = keys.verify(command)
    if result != "ok" or trust is None:  # "ok" always names the ring; checked, not assumed
        return Rejected(
            "bad_signature" if result == "ok" else result, f"key_id={command.key_id!r}", command
        )
    denied = _authorization_problem(command, trust)
    if denied:
        return Rejected("not_authorized", denied, command)
    skew = policy.clock_skew_s
    if command.expires_at + skew < now:
        return Rejected("expired", f"expired {now - command.expires_at:.0f} s ago", command)
    if command.issued_at - skew > now:
        return Rejected("not_yet_valid", f"issued {command.issued_at - now:.0f} s ahead", command)
    if command.expires_at - command.issued_at > policy.max_lifetime_s:
        return Rejected(
            "lifetime_too_long",
            f"valid for {command.expires_at - command.issued_at:.0f} s "
            f"> {policy.max_lifetime_s:.0f} s",
            command,
        )
    if command.advisory and not policy.deliver_advisory:
        return Rejected("advisory", "dry-run decision: report only", command)
    return Accepted(command, trust)


def _authorization_problem(command: Command, trust: Trust) -> str:
    operator_issuer = command.issuer.startswith(OPERATOR_ISSUER_PREFIX)
    if trust == "operator":
        return "" if operator_issuer else f"operator key used with issuer {command.issuer!r}"
    if operator_issuer:
        return f"worker key used with issuer {command.issuer!r}"
    if command.action in HUMAN_ONLY_ACTIONS:
        return f"{command.action!r} needs an operator key"
    return ""


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
