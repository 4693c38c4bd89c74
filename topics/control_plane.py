"""Control-plane events on the telemetry topic: counted only when an operator signed them.

``plan`` events (registration, stage changes, traffic share, pause/resume, dry-run,
completion, aborts) and ``signoff`` events steer a rollout; anyone who may produce
telemetry could otherwise switch a rollback off. The worker's ingest asks
:meth:`ControlPlaneGate.screen` about every telemetry message before routing it; every
control-plane event in it must carry a valid operator signature
(:mod:`topics.signing`, authority: :func:`topics.authority.event_problem`), or it is
dead-lettered with its reason and changes nothing.

The screen is a separate step on the raw bytes, before any typed decode, because the
signature covers the event exactly as its producer sent it. Most messages are order flow:
a byte scan clears them (a control-plane kind is spelled ``plan`` / ``signoff`` in the
bytes, or hidden behind a ``\\u`` escape, which the scan also catches).

Replay: a captured signed event can be re-sent, but it is bound to its rollout and event
time; the core never applies an event older than the rollout's watermark (late) and drops
one it has applied already (duplicate). ``docs/signing.md`` says so for other signers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple, TypeVar, get_args

import msgspec
import orjson

from topics.authority import CONTROL_PLANE_KINDS, event_problem
from topics.events import Plan, Signoff
from topics.keys import KeyRing, SigningKey
from topics.limits import MAX_JSON_DEPTH, json_depth_error
from topics.signing import MalformedError, canonical, parse_strict, verify_document

RefusalReason = Literal[
    "unsigned", "unknown_key", "bad_signature", "not_authorized", "duplicate_key", "invalid"
]
REFUSAL_REASONS: Final[tuple[RefusalReason, ...]] = get_args(RefusalReason)
# what a control-plane event (or an escape that could spell one) must contain: see screen()
MAX_DEPTH: Final = MAX_JSON_DEPTH
"""Telemetry nests deeper than a command may (a batch of events with segments)."""

SignedEvent = TypeVar("SignedEvent", bound=Plan | Signoff)


class Refusal(NamedTuple):
    """One control-plane event (``item``: its index in its batch; None: the message) not
    accepted."""

    item: int | None
    reason: RefusalReason
    detail: str
    original: bytes | None = None
    """The event's own bytes, for an event of a batch (else: the whole message)."""


@dataclass(frozen=True)
class Screen:
    """What the gate refused in one message. ``whole``: the message itself (it could not be
    read strictly, so which events it holds is not certain); else the refused events of a
    batch, or of a one-event message (index None)."""

    refused: list[Refusal]
    whole: bool = False
    remaining: bytes | None = None
    """For a batch with some events refused: the batch of the others (None: nothing left)."""


@dataclass(frozen=True)
class ControlPlaneGate:
    """Checks the signatures of control-plane events against the trusted ``ring``."""

    ring: KeyRing

    def screen(self, data: bytes) -> Screen | None:
        """None when ``data`` holds no control-plane event that could be refused (the
        usual case, decided by a byte scan); else what to refuse.

        >>> from topics.codec import encode_event
        >>> from topics.events import Metric, Plan
        >>> op = SigningKey.generate("op1", "operator", name="ana")
        >>> gate = ControlPlaneGate(op.ring())
        >>> m = Metric(v=1, rollout_id="r1", variant="canary", ts=1.7e9, name="x", value=1.0)
        >>> gate.screen(encode_event(m)) is None
        True
        >>> p = Plan(v=1, rollout_id="r1", variant="canary", ts=1.7e9, action="dry_run")
        >>> gate.screen(encode_event(p)).refused[0].reason
        'unsigned'
        >>> gate.screen(encode_event(sign_event(p, op))).refused
        []
        """
        # three byte searches, no generator: ~0.5 µs of every telemetry message's routing
        if b"plan" not in data and b"signoff" not in data and b"\\u" not in data:
            return None
        if json_depth_error(data, MAX_DEPTH) is not None:
            return None  # the decoder dead-letters it whole (too_deep): nothing of it counts
        try:
            message = parse_strict(data, MAX_DEPTH)
        except MalformedError as exc:
            reason: RefusalReason = "duplicate_key" if "duplicate" in str(exc) else "invalid"
            return Screen([Refusal(None, reason, f"control-plane screen: {exc}")], whole=True)
        events = message.get("events")
        if message.get("kind") != "batch" or not isinstance(events, list):
            refusal = self._refusal(message, None)
            return Screen([refusal] if refusal else [])
        refused = [r for i, e in enumerate(events) if (r := self._refusal(e, i)) is not None]
        if not refused:
            return Screen([])
        try:
            raws = [bytes(raw) for raw in _RAW_ITEMS.decode(data).events]
        except msgspec.DecodeError as exc:  # pragma: no cover - parse_strict read it
            return Screen([Refusal(None, "invalid", f"batch: {exc}")], whole=True)
        dropped = {r.item for r in refused}
        refused = [r._replace(original=raws[r.item or 0]) for r in refused]
        kept = [raw for i, raw in enumerate(raws) if i not in dropped]
        if not kept:
            return Screen(refused)
        # the others go on as a batch of their own, same version (its checks stay the same)
        head = b'{"kind":"batch","v":' + orjson.dumps(message.get("v")) + b',"events":['
        return Screen(refused, remaining=head + b",".join(kept) + b"]}")

    def verify_event(self, event: Mapping[str, Any]) -> str:
        """``ok`` when the control-plane ``event`` (a parsed JSON object) carries a valid
        operator signature that may sign it, else the reason (for audit)."""
        if not is_control_plane(event):
            raise ValueError("not a control-plane event")
        refusal = self._refusal(event, None)
        return "ok" if refusal is None else refusal.reason

    def _refusal(self, event: object, index: int | None) -> Refusal | None:
        if not is_control_plane(event):
            return None
        assert isinstance(event, Mapping)  # is_control_plane
        kind = event["kind"]
        try:
            result, key = verify_document(event, self.ring)
        except MalformedError as exc:  # pragma: no cover - parse_strict refused it already
            return Refusal(index, "invalid", str(exc))
        if result != "ok" or key is None:
            detail = {
                "unsigned": f"{kind} event without an operator signature",
                "unknown_key": f"{kind} event signed by a key not in the trusted ring",
                "bad_signature": f"{kind} event whose signature does not match it",
            }.get(result, result)
            return Refusal(index, "bad_signature" if result == "ok" else result, detail)
        problem = event_problem(event, key)
        if problem:
            return Refusal(index, "not_authorized", f"{kind} event: {problem}")
        return None


def is_control_plane(event: object) -> bool:
    """Whether ``event`` (parsed JSON) is a ``plan`` or ``signoff`` event: any other value
    of ``kind``, of any JSON type, is not."""
    if not isinstance(event, Mapping):
        return False
    kind = event.get("kind")
    return isinstance(kind, str) and kind in CONTROL_PLANE_KINDS


class _RawItems(msgspec.Struct):
    events: list[msgspec.Raw]


_RAW_ITEMS: Final = msgspec.json.Decoder(_RawItems)


def event_document(event: Plan | Signoff) -> dict[str, Any]:
    """The event as a verifier parses it from the wire."""
    from topics.codec import encode_event

    document: dict[str, Any] = orjson.loads(encode_event(event))
    return document


def sign_event(event: SignedEvent, key: SigningKey) -> SignedEvent:
    """``event`` signed by the operator ``key`` (as ``rollguard signoff`` / ``kill`` do)."""
    unsigned = msgspec.structs.replace(event, key_id=key.key_id, signature=None)
    signature = key.sign(canonical(event_document(unsigned)))
    return msgspec.structs.replace(unsigned, signature=signature)
