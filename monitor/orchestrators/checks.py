"""The stateless half of accepting a control command: bytes → a trusted ``Command`` or a reason.

This is ``docs/signing.md``'s verification procedure; the checks run in this order and the
first failure is the reason:

1. ``oversized``: more than ``max_command_bytes`` (checked before parsing);
2. ``malformed``: not strict JSON (UTF-8, one object, no duplicate member names, no
   NaN/Infinity, integers within ±(2**53 − 1), nesting ≤ 8);
3. ``unknown_version``: ``v`` other than the integer 1 (``malformed`` when missing);
4. ``malformed``: not a valid command (types, ranges, patterns, an unknown field: the
   signature would not make it trustworthy), or ``expires_at`` not after ``issued_at``;
5. ``unsigned``, ``unknown_key``, ``bad_signature``: Ed25519 over the RFC 8785 form of the
   object as received, without ``signature``, by the key ``key_id`` names;
6. ``not_authorized``: the key's role, rollouts and holder do not allow this command
   (:func:`topics.authority.command_problem`);
7. ``expired`` (``expires_at`` + skew < now), ``not_yet_valid`` (``issued_at`` − skew > now),
   ``lifetime_too_long`` (``expires_at`` − ``issued_at`` > ``max_lifetime_s``);
8. ``advisory``: dry-run commands are not delivered unless asked for.

The stateful checks (``duplicate``, ``replayed``, ``halted``) are in
:mod:`monitor.orchestrators.store`. Nothing here raises on any input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, NamedTuple

import msgspec

from topics.authority import command_problem
from topics.commands import COMMAND_SCHEMA_VERSION, Command
from topics.keys import KeyRing, PublicKey, Role
from topics.signing import MalformedError, escape, parse_strict, printable, verify_document

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
    "halted",
    "check_failed",
]
"""``check_failed``: the check itself raised (a bug): counted and skipped, never obeyed."""
REJECT_REASONS: Final[tuple[RejectReason, ...]] = RejectReason.__args__  # type: ignore[attr-defined]  # a Literal's values: typing has no public accessor


@dataclass(frozen=True)
class Policy:
    """Limits a command must respect to be obeyed (all wall-clock, seconds)."""

    max_command_bytes: int = 64 * 1024
    clock_skew_s: float = 30.0
    max_lifetime_s: float = 86_400.0
    deliver_advisory: bool = False


class Accepted(NamedTuple):
    command: Command
    key: PublicKey

    @property
    def trust(self) -> Role:
        """The role of the key that signed it: ``worker`` or ``operator``."""
        return self.key.role


class Rejected(NamedTuple):
    reason: RejectReason
    detail: str
    command: Command | None = None


def read_command(data: bytes, max_bytes: int = Policy.max_command_bytes) -> Command | Rejected:
    """Steps 1-4: the command in ``data``, valid but not yet verified, or why not (for
    display without keys, and the start of every check)."""
    document = _document(data, max_bytes)
    return document if isinstance(document, Rejected) else _command_of(document)


def _document(data: bytes, max_bytes: int) -> dict[str, object] | Rejected:
    """Steps 1-2: size, then strict JSON."""
    if not isinstance(data, bytes | bytearray | memoryview):
        return Rejected("malformed", "not bytes")
    if len(data) > max_bytes:
        return Rejected("oversized", f"{len(data)} bytes > {max_bytes}")
    try:
        return parse_strict(data)
    except MalformedError as exc:
        return Rejected("malformed", str(exc))


def _command_of(document: dict[str, object]) -> Command | Rejected:
    if "v" not in document:
        return Rejected("malformed", "Object missing required field `v`")
    version = document["v"]
    if type(version) is not int or version != COMMAND_SCHEMA_VERSION:
        return Rejected("unknown_version", f"v={printable(repr(version), 20)}")
    try:
        command = msgspec.convert(document, Command)
    except msgspec.ValidationError as exc:
        return Rejected("malformed", escape(str(exc)))
    if command.expires_at <= command.issued_at:
        return Rejected("malformed", "expires_at is not after issued_at", command)
    return command


def verify_command(
    data: bytes, keys: KeyRing, max_bytes: int = Policy.max_command_bytes
) -> Accepted | Rejected:
    """Steps 1-6: signed by a key of ``keys`` that may sign it; time is not looked at (an
    evidence pack re-verifies old commands)."""
    document = _document(data, max_bytes)
    if isinstance(document, Rejected):
        return document
    command = _command_of(document)
    if isinstance(command, Rejected):
        return command
    result, key = verify_document(document, keys)
    if result != "ok" or key is None:  # "ok" always names the key; checked, not assumed
        reason = "bad_signature" if result == "ok" else result
        return Rejected(reason, f"key_id={command.key_id!r}", command)
    denied = command_problem(command, key)
    if denied:
        return Rejected("not_authorized", denied, command)
    return Accepted(command, key)


def check(data: bytes, keys: KeyRing, policy: Policy, now: float) -> Accepted | Rejected:
    """Decide whether ``data`` is a command this client may obey at wall-clock ``now``."""
    verified = verify_command(data, keys, policy.max_command_bytes)
    if isinstance(verified, Rejected):
        return verified
    command = verified.command
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
    return verified
