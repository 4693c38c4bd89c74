"""Input event contracts: what producers send to rollguard's telemetry topics.

Every event is one JSON object with a ``kind`` tag. High-volume producers may wrap many
events in a :class:`Batch` envelope; both forms decode to the same events (see
:mod:`topics.codec`).

Units, decided once for the whole product:

* time: ``ts`` is event time in **seconds since the Unix epoch (UTC)**, a float;
* durations and latencies: **milliseconds** (``*_ms``), floats;
* money (P&L): **integer minor units** of ``currency`` (cents for USD), so sums are exact;
* prices: floats in the instrument's quote currency; deviations are derived in basis points;
* quantities: floats in instrument units (lots, shares, contracts).

The models are msgspec Structs because msgspec validates while it decodes (one pass over
the bytes); ``topics/schemas/*.json`` is generated from them (``python -m topics.schemas``).
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec
from msgspec import Meta

from topics.names import NAME_PATTERN

SCHEMA_VERSION: Final = 1
"""The one schema version this build understands (``v`` on every message)."""

MIN_TS: Final = 946_684_800.0  # 2000-01-01T00:00:00Z
MAX_TS: Final = 4_102_444_800.0  # 2100-01-01T00:00:00Z

Variant = Literal["baseline", "canary", "shadow"]
"""baseline: the path that runs production today; canary: the new path taking a traffic
share; shadow: the new path seeing production inputs without executing."""

VARIANTS: Final[tuple[Variant, ...]] = ("baseline", "canary", "shadow")

Name = Annotated[
    str, Meta(min_length=1, max_length=128, extra_json_schema={"pattern": NAME_PATTERN})
]
"""Checked after decoding (:mod:`topics.names`): every decoding path calls ``name_error``."""
Label = Annotated[str, Meta(min_length=1, max_length=128)]
Text = Annotated[str, Meta(max_length=1024)]
EventTime = Annotated[
    float,
    Meta(
        ge=MIN_TS,
        le=MAX_TS,
        description="Event time, seconds since the Unix epoch (UTC), between 2000 and 2100.",
    ),
]
Millis = Annotated[float, Meta(ge=0, le=86_400_000, description="Milliseconds, 0 to one day.")]
Quantity = Annotated[float, Meta(ge=0, le=1e12, description="Instrument units, non-negative.")]
Price = Annotated[float, Meta(gt=0, le=1e12, description="Price in the quote currency, > 0.")]
MinorUnits = Annotated[
    int,
    Meta(
        ge=-(10**15),
        le=10**15,
        description="Money in integer minor units of `currency` (e.g. cents).",
    ),
]
# max_length: msgspec checks a pattern with Python's re.search, whose `$` also matches before
# a trailing newline ("USD\n"); JSON Schema's (ECMA-262) `$` does not. The length makes both agree.
Currency = Annotated[
    str, Meta(pattern=r"^[A-Z]{3}$", max_length=3, description="ISO 4217 code, e.g. USD.")
]
Segment = Annotated[
    dict[Name, Label],
    Meta(
        max_length=16,
        description=(
            "Segment labels (region, instrument_set, account_type, ...): at most 16, "
            "names [A-Za-z0-9_.:/@+-], values up to 128 characters."
        ),
    ),
]

OrderStatus = Literal[
    "submitted",
    "accepted",
    "filled",
    "partially_filled",
    "rejected",
    "cancelled",
    "timed_out",
]
ErrorKind = Literal["timeout", "disconnect", "off_quotes", "internal"]
PlanAction = Literal[
    "registered",  # a rollout starts under the named plan
    "stage_changed",  # the orchestrator moved it to `stage` (overrides rollguard's view)
    "traffic_share",  # the orchestrator set the new path's share to `traffic_pct`
    "paused",  # a human or orchestrator paused it
    "resumed",  # a human resumed it after pause / freeze / halt
    "completed",  # fully promoted
    "aborted",  # stopped for good (rolled back, killed)
    "dry_run",  # from now on decisions are advisory only
]


def doc(text: str) -> Meta:
    """Schema description of one field (kept next to the field it documents)."""
    return Meta(description=text)


class AbsurdValueError(ValueError):
    """Raised by ``__post_init__`` checks; msgspec reports it as a validation error."""


class _EventBase(
    msgspec.Struct,
    kw_only=True,
    frozen=True,
    tag_field="kind",
    omit_defaults=True,
):
    """Fields every input event carries."""

    v: Annotated[int, doc("Schema version; this build accepts 1.")]
    rollout_id: Annotated[Name, doc("The rollout this event belongs to.")]
    variant: Annotated[Variant, doc("Which path produced it: baseline, canary or shadow.")]
    ts: EventTime
    segment: Segment | None = None
    corr_id: (
        Annotated[
            str,
            Meta(min_length=1, max_length=128),
            doc("Correlation id joining the same input across production and shadow paths."),
        ]
        | None
    ) = None

    # No ``__post_init__`` here: msgspec calls one per decoded event (a Python call, ~0.2 µs:
    # a tenth of a worker's cost per event), and the ``EventTime`` bounds already refuse a
    # non-finite or absurd ``ts`` on decode. Code building events in Python is trusted.


class Order(_EventBase, tag="order", frozen=True):
    """One order lifecycle event from a path (submitted, filled, rejected, ...)."""

    order_id: Annotated[str, Meta(min_length=1, max_length=128), doc("Order identifier.")]
    status: Annotated[OrderStatus, doc("Lifecycle status this event reports.")]
    latency_ms: Annotated[Millis, doc("Submit to this status (ack/fill/reject), ms.")] | None = None
    lp: Annotated[Name, doc("Liquidity provider that handled the order.")] | None = None
    venue: Annotated[Name, doc("Execution venue.")] | None = None
    symbol: Annotated[Name, doc("Instrument symbol.")] | None = None
    qty: Annotated[Quantity, doc("Ordered quantity.")] | None = None
    filled_qty: Annotated[Quantity, doc("Filled quantity so far (<= qty).")] | None = None
    price: Annotated[Price, doc("Execution (or limit) price.")] | None = None
    ref_price: Annotated[Price, doc("Reference (mid/quoted) price at decision time.")] | None = None
    reject_reason: Annotated[Label, doc("Rejection cause, when status=rejected.")] | None = None
    error: Annotated[ErrorKind, doc("Fault behind the status, if any.")] | None = None
    pnl_minor: Annotated[MinorUnits, doc("Realised P&L of this event.")] | None = None
    currency: Annotated[Currency, doc("Currency of pnl_minor.")] | None = None
    failover: Annotated[bool, doc("True when this order triggered an LP failover.")] = False

    def __post_init__(self) -> None:
        if self.filled_qty is not None and self.qty is not None and self.filled_qty > self.qty:
            raise AbsurdValueError(f"`filled_qty` {self.filled_qty} exceeds `qty` {self.qty}")
        if self.pnl_minor is not None and self.currency is None:
            raise AbsurdValueError("`pnl_minor` needs `currency`")


class Metric(_EventBase, tag="metric", frozen=True):
    """Any named numeric sample (CPU, queue depth, custom KPI)."""

    name: Annotated[Name, doc("Metric name, e.g. cpu_pct.")]
    value: Annotated[float, Meta(ge=-1e15, le=1e15), doc("Sample value, finite.")]
    unit: Annotated[str, Meta(max_length=32), doc("Unit, free text (ms, pct).")] | None = None


class Shadow(_EventBase, tag="shadow", frozen=True):
    """A routing/execution decision made by one path for one input (``corr_id`` required).

    Production sends it with ``variant=baseline``; the shadow path with ``variant=shadow``.
    rollguard joins the two by ``corr_id``.
    """

    route: Annotated[Name, doc("LP / venue / route the path chose.")]
    outcome: Annotated[
        Literal["accept", "reject", "requote", "hold"], doc("What the path decided.")
    ]
    price: Annotated[Price, doc("Price the path would execute at.")] | None = None
    reject_reason: Annotated[Label, doc("Cause, when outcome=reject.")] | None = None
    latency_ms: Annotated[Millis, doc("Decision latency, ms.")] | None = None
    failover: Annotated[bool, doc("True when the path failed over to another LP.")] = False

    def __post_init__(self) -> None:
        if self.corr_id is None:
            raise AbsurdValueError("`corr_id` is required on shadow events")


class Status(_EventBase, tag="status", frozen=True):
    """State of one business object in one system (for cross-system mismatch detection)."""

    object_id: Annotated[
        str, Meta(min_length=1, max_length=128), doc("Business object (payment, order) id.")
    ]
    system: Annotated[Name, doc("System reporting the state (crm, payments, trading).")]
    state: Annotated[Label, doc("State in that system (pending, confirmed, ...).")]


KeyId = Annotated[str, Meta(max_length=64), doc("Id of the operator key that signed it.")] | None
Signature = (
    Annotated[
        str,
        Meta(max_length=128),
        doc("Ed25519 over the RFC 8785 form of the event without `signature`, hex."),
    ]
    | None
)
"""``plan`` and ``signoff`` events are control-plane events: on the telemetry topic they
count only when an operator key signed them (``docs/signing.md``); offline replays take them
as they are. The two fields come last (unsigned events encode as before)."""


class Plan(_EventBase, tag="plan", frozen=True):
    """Rollout lifecycle: registered, stage changed, traffic share changed, completed."""

    action: Annotated[PlanAction, doc("Lifecycle step.")]
    stage: Annotated[Name, doc("Stage name from the plan.")] | None = None
    traffic_pct: (
        Annotated[float, Meta(ge=0, le=100), doc("Traffic share of the new path, percent.")] | None
    ) = None
    plan: Annotated[Name, doc("Name of the rollout plan (YAML) governing it.")] | None = None
    key_id: KeyId = None
    signature: Signature = None


class Signoff(_EventBase, tag="signoff", frozen=True):
    """A named person's approval of a stage promotion in a role (CTO, COO, compliance)."""

    stage: Annotated[Name, doc("Stage whose promotion is approved.")]
    role: Annotated[Name, doc("Role signing (cto, coo, compliance).")]
    by: Annotated[Label, doc("Person signing.")]
    note: Annotated[Text, doc("Free text.")] | None = None
    key_id: KeyId = None
    signature: Signature = None


class Silence(_EventBase, tag="silence", frozen=True):
    """A variant stopped reporting: emitted at the edge from the wall clock (worker)."""

    silent_s: Annotated[float, Meta(ge=0, le=1e7), doc("Seconds without events.")]
    last_event_ts: Annotated[EventTime, doc("Event time of the last event seen.")] | None = None


Event = Order | Metric | Shadow | Status | Plan | Signoff | Silence
EVENT_TYPES: Final[tuple[type[_EventBase], ...]] = (
    Order,
    Metric,
    Shadow,
    Status,
    Plan,
    Signoff,
    Silence,
)
EVENT_KINDS: Final[frozenset[str]] = frozenset(str(t.__struct_config__.tag) for t in EVENT_TYPES)


class Batch(msgspec.Struct, kw_only=True, frozen=True, tag_field="kind", tag="batch"):
    """Envelope carrying many events in one Kafka message (high-volume producers)."""

    v: Annotated[int, doc("Schema version; this build accepts 1.")]
    events: Annotated[list[Event], doc("The events, in production order.")]
    producer: Annotated[Label, doc("Producer name, for diagnostics.")] | None = None
