"""Rollout status contract: what each owner publishes to the compacted status topic.

Every worker materialises the status topic into a table (as Kafka Streams' KTable does) and
answers the verdict routes for every rollout of the fleet from it; ``rollguard status`` and
the operator commands read it straight from Kafka. Two record kinds share the topic:

* :class:`RolloutStatus` (key: the rollout id) — the owner's :class:`RolloutView` of one
  rollout, published whenever its state changes (stage, status, verdict, a rule's state,
  a decision, a sign-off, the promotion gaps) and with fresh values at most every few
  seconds while events arrive;
* :class:`OwnerHeartbeat` (key: ``~owner/<worker id>``) — published by each worker every
  second: the rollouts it owns now, each with the digest of the status it last published
  (one small record per worker, however many rollouts it owns).
  A reader counts a rollout's status as current only while its owner's heartbeat is recent
  *and* names that digest, so a dead owner's last word turns stale instead of lingering.

Orchestrators act on what the verdict routes derive from these records, so both kinds are
signed documents (``docs/signing.md``: Ed25519 over the RFC 8785 form, through
:func:`topics.signing.sign_document`): :func:`sign_status` signs with the worker's key,
:func:`read_status` verifies against the trusted ring and checks the key's authority (a
worker key, covering every rollout the record speaks for) before a reader uses a record.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Annotated, Final, Literal

import msgspec
import orjson
from msgspec import Meta

from topics.commands import Action
from topics.events import doc
from topics.keys import KeyRing, SigningKey
from topics.signing import (
    KEY_ID_FIELD,
    MalformedError,
    VerifyResult,
    parse_strict,
    sign_document,
    verify_document,
)

STATUS_SCHEMA_VERSION: Final = 1
HEARTBEAT_KEY_PREFIX: Final = "~owner/"
"""Heartbeat keys; ``~`` is outside the rollout-id alphabet, so they never clash."""
MAX_DECISIONS: Final = 5
"""Decisions kept in a view (newest last): the screen shows them, the export has them all."""

Text = Annotated[str, Meta(max_length=4096)]
Short = Annotated[str, Meta(max_length=256)]


# -- the status vocabulary: the core decides in it, views carry it, the verdict routes read it


class Status(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    FROZEN = "frozen"
    INCONCLUSIVE = "inconclusive"
    """The stage reached its time box without a verdict: waits for a human."""
    HALTED = "halted"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"
    COMPLETED = "completed"


Verdict = Literal["pass", "fail", "inconclusive"]

FAILED: Final = frozenset({Status.HALTED, Status.ROLLED_BACK, Status.ABORTED})
"""Stopped for cause: the verdict is ``fail``."""
TERMINAL: Final = FAILED | {Status.COMPLETED}
"""No decision changes these (a human's ``resumed`` still may)."""
HELD: Final = frozenset({Status.PAUSED, Status.FROZEN, Status.INCONCLUSIVE})
"""Waiting for a human's ``resumed`` (or a new stage): no promotion, no repeated action."""
AFTER_ACTION: Final[dict[Action, Status]] = {
    "halt": Status.HALTED,
    "rollback": Status.ROLLED_BACK,
    "freeze": Status.FROZEN,
    "pause": Status.PAUSED,
}
"""The status a rule's decision leaves the rollout in (other actions keep it running)."""


def verdict_of(status: Status, live_firing: bool, live_healthy: bool) -> Verdict:
    """The stage's verdict from the status and its live (not dry-run) rules.

    >>> verdict_of(Status.ABORTED, False, True), verdict_of(Status.RUNNING, False, True)
    ('fail', 'pass')
    >>> verdict_of(Status.COMPLETED, False, False), verdict_of(Status.PAUSED, False, False)
    ('pass', 'inconclusive')
    """
    if status in FAILED or live_firing:
        return "fail"
    if status == Status.COMPLETED or live_healthy:
        return "pass"
    return "inconclusive"


class StageView(msgspec.Struct, kw_only=True, frozen=True):
    """One stage of the rollout's plan, as a status screen lists it."""

    name: Short
    traffic_pct: float | None = None
    segment: dict[str, str] | None = None
    min_dwell_s: float = 0.0
    min_samples: int = 0
    signoffs: list[Short] = []
    """Roles that must sign off before this stage is promoted."""


class RuleView(msgspec.Struct, kw_only=True, frozen=True):
    """One gating rule instance of the current stage: its state and last evaluation."""

    rule: Short
    state: Annotated[str, doc("inactive | pending | firing")]
    signal: Short = ""
    variant: Short = ""
    action: Short = ""
    value: float | None = None
    """What the rule compared (a CUSUM's statistic, a ratio, a rate ...); None: no data."""
    threshold: float | None = None
    comparator: Short = ""
    samples: float | None = None
    for_s: float = 0.0
    healthy: bool = False
    """Evaluated, with a verdict (or no data is fine), neither pending nor firing."""
    dry_run: bool = False


class DecisionView(msgspec.Struct, kw_only=True, frozen=True):
    """A decision as a status screen shows it (the signed command has the evidence)."""

    action: Short
    stage: Short = ""
    reason: Text = ""
    rule: Short | None = None
    command_id: Short = ""
    issued_at: float | None = None
    advisory: bool = False
    issuer: Short = "worker"


class RolloutView(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=False):
    """The core's summary of one rollout: ``Core.view`` returns it (as builtins), the verdict
    routes read it, the status topic carries it.

    ``verdict`` is ``fail`` when a live rule fires or the rollout was rolled back or halted,
    ``pass`` when every gating rule is healthy, else ``inconclusive``; ``status`` is what was
    decided (running, paused, frozen, inconclusive, halted, rolled_back, aborted, completed).
    """

    rollout_id: Short
    plan: Short = ""
    rule_set_version: Short = ""
    stage: Short = ""
    stage_index: int = 0
    stages: list[Short] = []
    stage_plan: list[StageView] = []
    traffic_pct: float | None = None
    status: Short = ""
    """A :class:`Status` value; plain text on the wire, so a reader that does not know a
    newer status reads it as held (inconclusive) instead of refusing the record."""
    verdict: Short = ""
    """A :data:`Verdict` (:func:`verdict_of`)."""
    dry_run: bool = False
    event_time: float = 0.0
    """Event time the rollout was last evaluated at (its watermark step)."""
    watermark: float = 0.0
    stage_started_at: float | None = None
    promotion_gaps: list[Text] = []
    rules: dict[str, str] = {}
    """Rule instance -> state, for every rule of the current stage."""
    rule_values: list[RuleView] = []
    firing: list[Short] = []
    pending: list[Short] = []
    signoffs: list[Short] = []
    """Given, as ``stage:role``."""
    signoffs_awaited: list[Short] = []
    """Roles the current stage still needs before promotion."""
    counts: dict[str, int] = {}
    last_decisions: list[DecisionView] = []


class RolloutStatus(msgspec.Struct, kw_only=True, frozen=True, tag="rollout"):
    """One owner's view of one rollout, signed (key: the rollout id)."""

    v: int = STATUS_SCHEMA_VERSION
    owner: Short
    published_at: Annotated[float, doc("Owner's wall clock, seconds since epoch.")]
    view: RolloutView
    digest: Short = ""
    """Of the view (:func:`view_digest`); heartbeats confirm it by this."""
    key_id: Annotated[str, Meta(max_length=64)] = ""
    signature: Annotated[str, Meta(max_length=256)] = ""


class OwnerHeartbeat(msgspec.Struct, kw_only=True, frozen=True, tag="heartbeat"):
    """A worker is alive and owns these rollouts, whose status it last published with
    these digests (key: ``~owner/<worker id>``)."""

    v: int = STATUS_SCHEMA_VERSION
    owner: Short
    published_at: float
    rollouts: dict[str, Short] = {}
    key_id: Annotated[str, Meta(max_length=64)] = ""
    signature: Annotated[str, Meta(max_length=256)] = ""


StatusRecord = RolloutStatus | OwnerHeartbeat

_ENCODER: Final = msgspec.json.Encoder()
_VIEW_ENCODER: Final = msgspec.json.Encoder(order="deterministic")


def view_digest(view: RolloutView) -> str:
    """Short, stable digest of a view (heartbeats name it; equal views, equal digests).

    >>> view_digest(RolloutView(rollout_id="r1")) == view_digest(RolloutView(rollout_id="r1"))
    True
    >>> view_digest(RolloutView(rollout_id="r1")) == view_digest(RolloutView(rollout_id="r2"))
    False
    """
    return hashlib.sha256(_VIEW_ENCODER.encode(view)).hexdigest()[:16]


def heartbeat_key(owner: str) -> bytes:
    return f"{HEARTBEAT_KEY_PREFIX}{owner}".encode()


ReadResult = Literal[
    "ok", "malformed", "unsigned", "unknown_key", "bad_signature", "not_authorized"
]


def sign_status(record: StatusRecord, key: SigningKey) -> bytes:
    """``record`` signed with the worker's ``key``, as it goes on the status topic.

    >>> from topics.keys import SigningKey
    >>> key = SigningKey.generate("w1", "worker")
    >>> ring = key.ring(rollouts=("r*",))
    >>> beat = OwnerHeartbeat(owner="w1", published_at=1.7e9, rollouts={"r1": "x"})
    >>> data = sign_status(beat, key)
    >>> read_status(data, ring)[1]
    'ok'
    >>> read_status(data.replace(b'"r1"', b'"r2"'), ring)[1]
    'bad_signature'
    >>> other = sign_status(msgspec.structs.replace(beat, rollouts={"x": "y"}), key)
    >>> read_status(other, ring)[1]  # a worker key speaks only for its own rollouts
    'not_authorized'
    """
    return orjson.dumps(sign_document(msgspec.to_builtins(record), key))


def read_status(
    data: bytes, ring: KeyRing | None, *, signed_here: bool = False
) -> tuple[StatusRecord | None, ReadResult]:
    """Parse, verify and decode one status record. ``ring`` None: no verification (a
    human's screen without the ring; the caller says so). ``signed_here``: the caller signed
    these very bytes itself (a worker reading its own records back), so the signature is
    not checked again; the signer's key must still be in ``ring`` and cover the record.

    >>> key = SigningKey.generate("w1", "worker")
    >>> beat = sign_status(OwnerHeartbeat(owner="w1", published_at=1.7e9), key)
    >>> read_status(beat, key.ring(rollouts=("r*",)), signed_here=True)[1]
    'ok'
    >>> other = SigningKey.generate("w2", "worker").ring(rollouts=("r*",))
    >>> read_status(beat, other, signed_here=True)[1]
    'unknown_key'
    """
    try:
        document = parse_strict(data)
        record: StatusRecord = msgspec.convert(document, StatusRecord)
    except (MalformedError, msgspec.ValidationError):
        return None, "malformed"
    if ring is None:
        return record, "ok"
    if signed_here:
        key = ring.get(str(document.get(KEY_ID_FIELD)))
        result: VerifyResult = "ok" if key is not None else "unknown_key"
    else:
        result, key = verify_document(document, ring)
    if result != "ok" or key is None:
        return None, result
    speaks_for = (
        [record.view.rollout_id] if isinstance(record, RolloutStatus) else list(record.rollouts)
    )
    if key.role != "worker" or not all(key.covers(rid) for rid in speaks_for):
        return None, "not_authorized"
    return record, "ok"


def encode_status(record: StatusRecord) -> bytes:
    """An unsigned record's bytes (tests, tools: readers with a ring refuse it)."""
    return _ENCODER.encode(record)
