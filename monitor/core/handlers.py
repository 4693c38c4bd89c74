"""What each event kind does to a rollout, in one table keyed by its contract class.

One row per class of :data:`topics.events.Event`: how a duplicate is recognised, what the
event adds to its step's bucket on arrival (the hot path), what it is at its step's
evaluation (a shadow decision to join, a status to track, a lifecycle control to apply)
and, for controls, their order within a step and their effect. A new event kind is a new
contract in ``topics/events.py`` and a new row here; nothing else switches on types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from monitor.core import buckets as bk
from monitor.core.buckets import EVENTS, FAILOVERS, LAT_N, LAT_SCALE, LAT_SUM, Bucket, latency_bin
from monitor.core.derive import add_order
from topics.events import Event, Metric, Order, Plan, Shadow, Signoff, Silence, Status

if TYPE_CHECKING:
    from monitor.core.rollout import Rollout

AtStep = Literal["none", "shadow", "status", "control"]
"""What a buffered event is when its step is evaluated (``none``: never buffered)."""


@dataclass(frozen=True, slots=True)
class Handler:
    dedupe: Callable[[Event, float], tuple[object, ...]]
    """Identity of the event for duplicate detection (with its event time)."""
    ingest: Callable[[Event, Bucket, float], None] | None
    """What it adds to its step's bucket on arrival (None: nothing)."""
    at_step: AtStep
    order: Callable[[Event], tuple[object, ...]] = lambda ev: (ev.ts, 3)
    """Controls: their order within one step (sorted, so arrival order does not matter)."""
    apply: Callable[[Rollout, Event], None] = lambda r, ev: None
    """Controls: their effect on the rollout, applied at their step."""
    event_time: Callable[[Event], float] | None = None
    """Its event time when not its ``ts`` (None: its ``ts``)."""


def _silence_time(ev: Event) -> float:
    """A silence is raised from a worker's wall clock: in event time it has lasted since the
    last event, whatever the offset between the producers' clocks and the worker's."""
    assert isinstance(ev, Silence)
    if ev.last_event_ts is None:
        return ev.ts
    return min(ev.ts, ev.last_event_ts + ev.silent_s)


def _plain(x: object) -> object:
    """Hashable stand-in of a field value for the dedupe key."""
    return repr(sorted(x.items())) if isinstance(x, dict) else x


def _fields_key(ev: Event, ts: float) -> tuple[object, ...]:
    return (type(ev).__name__, *(_plain(getattr(ev, f)) for f in ev.__struct_fields__))


def _order_key(ev: Order, ts: float) -> tuple[object, ...]:
    return (ev.variant, ev.order_id, ev.status, ts, ev.filled_qty)


def _shadow_key(ev: Shadow, ts: float) -> tuple[object, ...]:
    return ("s", ev.variant, ev.corr_id)


def _ingest_metric(ev: Event, b: Bucket, ts: float) -> None:
    assert isinstance(ev, Metric)
    b.c[EVENTS] += 1
    acc = b.metrics.get(ev.name)
    quantised = round(ev.value * bk.METRIC_SCALE)
    if acc is None:
        b.metrics[ev.name] = [quantised, 1]
    else:
        acc[0] += quantised
        acc[1] += 1
    b.max_ts = max(b.max_ts, ts)


def _ingest_shadow(ev: Shadow, b: Bucket, ts: float) -> None:
    c = b.c
    c[EVENTS] += 1
    if ev.failover:
        c[FAILOVERS] += 1
    lat = ev.latency_ms
    if lat is not None and ev.variant == "shadow":
        c[LAT_SUM] += round(lat * LAT_SCALE)
        c[LAT_N] += 1
        hb = latency_bin(lat)
        b.hist[hb] = b.hist.get(hb, 0) + 1
    b.max_ts = max(b.max_ts, ts)


def _plan_order(ev: Event) -> tuple[object, ...]:
    assert isinstance(ev, Plan)
    return (ev.ts, 0, ev.action, ev.stage or "", ev.traffic_pct or 0.0)


def _signoff_order(ev: Event) -> tuple[object, ...]:
    assert isinstance(ev, Signoff)
    return (ev.ts, 1, ev.stage, ev.role, ev.by)


def _silence_order(ev: Event) -> tuple[object, ...]:
    assert isinstance(ev, Silence)
    return (ev.ts, 2, ev.variant, ev.silent_s)


def _apply_plan(r: Rollout, ev: Event) -> None:
    """A lifecycle event from the orchestrator or a human (see :class:`Rollout`'s methods)."""
    assert isinstance(ev, Plan)
    if ev.action == "stage_changed" and ev.stage is not None:
        idx = r.plan.stage_index(ev.stage)
        if idx is not None:
            r.change_stage(idx, ev.ts)
    elif ev.action == "traffic_share" and ev.traffic_pct is not None:
        r.traffic_pct = ev.traffic_pct
    elif ev.action == "paused":
        r.pause()
    elif ev.action == "resumed":
        r.resume()
    elif ev.action == "completed":
        r.complete()
    elif ev.action == "aborted":
        r.abort()
    elif ev.action == "dry_run":
        r.dry_run = True


def _apply_signoff(r: Rollout, ev: Event) -> None:
    assert isinstance(ev, Signoff)
    r.signoffs.add((ev.stage, ev.role))


# A Status is what the payments system or the back office reports about the variant's
# objects, seconds after the fact (propagation, confirmations): not a sign that the variant
# itself still reports, so it touches no bucket (its freshness, max_ts, stays).
# A Silence has moved event time forward already (its step): nothing more to apply.
HANDLERS: Final[dict[type[Event], Handler]] = {
    # The hot rows take their own class (no wrapper, no isinstance assert: 0.1-0.2 µs an
    # event); the table's key is that class, which mypy cannot see, hence the ignores.
    Order: Handler(_order_key, add_order, "none"),  # type: ignore[arg-type]
    Metric: Handler(_fields_key, _ingest_metric, "none"),
    Shadow: Handler(_shadow_key, _ingest_shadow, "shadow"),  # type: ignore[arg-type]
    Status: Handler(_fields_key, None, "status"),
    Plan: Handler(_fields_key, None, "control", _plan_order, _apply_plan),
    Signoff: Handler(_fields_key, None, "control", _signoff_order, _apply_signoff),
    Silence: Handler(_fields_key, None, "control", _silence_order, event_time=_silence_time),
}
