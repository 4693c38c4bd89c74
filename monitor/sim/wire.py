"""Unvalidated twins of the high-volume event structs, for output-only streams.

The contract structs in :mod:`topics.events` validate in ``__post_init__`` (a Python call per
event), which is most of the cost of writing millions of events. When the stream only goes to
JSONL or Kafka, the simulator builds these twins instead: same tag, same fields in the same
order, same defaults, so they encode to byte-identical JSON (a unit test holds them to that),
and the consumer validates on decode as it must anyway.

The high-volume twins are ``gc=False``: they hold only strings, numbers and the shared
segment dicts, never a cycle, and untracked they spare the collector a pass over every
few hundred new events (a third of the run time on a busy stream).
"""

from __future__ import annotations

from typing import NamedTuple

import msgspec

from topics.events import Metric, Order, Shadow, Status


class _Base(
    msgspec.Struct, kw_only=True, frozen=True, tag_field="kind", omit_defaults=True, gc=False
):
    v: int
    rollout_id: str
    variant: str
    ts: float
    segment: dict[str, str] | None = None
    corr_id: str | None = None


class RawOrder(
    msgspec.Struct, frozen=True, tag_field="kind", tag="order", omit_defaults=True, gc=False
):
    """Positional, flat, fields in :class:`~topics.events.Order`'s encoded order (its own
    fields first, then the kw-only base fields), so ``starmap`` can build it from columns."""

    order_id: str | None = None
    status: str | None = None
    latency_ms: float | None = None
    lp: str | None = None
    venue: str | None = None
    symbol: str | None = None
    qty: float | None = None
    filled_qty: float | None = None
    price: float | None = None
    ref_price: float | None = None
    reject_reason: str | None = None
    error: str | None = None
    pnl_minor: int | None = None
    currency: str | None = None
    failover: bool = False
    v: int | None = None
    rollout_id: str | None = None
    variant: str | None = None
    ts: float | None = None
    segment: dict[str, str] | None = None
    corr_id: str | None = None


class RawMetric(_Base, tag="metric", frozen=True):
    name: str
    value: float
    unit: str | None = None


class RawShadow(
    msgspec.Struct, frozen=True, tag_field="kind", tag="shadow", omit_defaults=True, gc=False
):
    """Positional and flat like :class:`RawOrder`, in :class:`~topics.events.Shadow`'s order."""

    route: str | None = None
    outcome: str | None = None
    price: float | None = None
    reject_reason: str | None = None
    latency_ms: float | None = None
    failover: bool = False
    v: int | None = None
    rollout_id: str | None = None
    variant: str | None = None
    ts: float | None = None
    segment: dict[str, str] | None = None
    corr_id: str | None = None


class RawStatus(_Base, tag="status", frozen=True):
    object_id: str
    system: str
    state: str


class EventTypes(NamedTuple):
    """The struct classes a flow builds: validated contracts or raw twins."""

    order: type
    metric: type
    shadow: type
    status: type
    positional: bool
    """Orders and shadow decisions are built positionally (raw twins) or by keyword."""


VALIDATED = EventTypes(Order, Metric, Shadow, Status, positional=False)
RAW = EventTypes(RawOrder, RawMetric, RawShadow, RawStatus, positional=True)
