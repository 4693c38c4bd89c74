"""Per-event derivation into buckets, segment keys, and the windows each scope needs.

The hot path lives here: :func:`add_order` turns one order event into counter, histogram
and rejection-cause updates of its step's bucket (module-level constants, no attribute
lookups); :func:`scope_needs` decides, once per plan, which windows each scope carries and
what they must keep (so a step moves only what some rule reads).
"""

from __future__ import annotations

import math
from typing import Final

from monitor.core import buckets as bk
from monitor.core import signals, thresholds
from monitor.core.buckets import (
    CANCELLED,
    ERR_TIMEOUT,
    ERRORS,
    EVENTS,
    FAILOVERS,
    FILLED,
    LAT_N,
    LAT_SCALE,
    LAT_SUM,
    ORDERS,
    OUTCOMES,
    PARTIAL,
    PNL,
    PNL_N,
    REJECTED,
    SLIP_N,
    SLIP_SUM,
    Bucket,
    add_example,
)
from monitor.core.model import Rule
from topics.events import Order

_ceil = math.ceil
_log = math.log
_INV_LOG_GAMMA: Final = 1.0 / math.log(bk.GAMMA)
_ERROR_SLOT = bk.ERROR_SLOT
_OUTCOMES = bk.OUTCOME_STATUSES
BPS_MILLI: Final = 1e4 * bk.BPS_SCALE  # relative deviation -> thousandths of a bps


def segment_key(segment: dict[str, str] | None) -> str:
    """Canonical ``k=v,k=v`` of a segment (sorted), "" for none.

    >>> segment_key({"region": "eu", "tier": "retail"}), segment_key(None)
    ('region=eu,tier=retail', '')
    """
    if not segment:
        return ""
    if len(segment) == 1:
        for k, v in segment.items():
            return f"{k}={v}"
    return ",".join(sorted(f"{k}={v}" for k, v in segment.items()))


def parse_segment_key(key: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in key.split(",")) if key else {}


def scope_needs(
    rules: list[Rule], res: float
) -> tuple[dict[tuple[str, str], dict[int, int]], set[tuple[str, str]]]:
    """Windows (steps -> parts) each kind of scope needs, and which need stage totals.

    Scope kinds: (variant, "") the whole variant, (variant, "~k=v") a segment filter,
    (variant, "*") every per-segment scope.
    """
    needs: dict[tuple[str, str], dict[int, int]] = {}
    sequential: set[tuple[str, str]] = set()
    for rule in rules:
        if rule.per_segment:
            kind = "*"
        elif rule.segment:
            kind = "~" + segment_key(dict(rule.segment))
        else:
            kind = ""
        th = rule.threshold
        method = thresholds.method_of(th)
        variants = [rule.variant, "baseline"] if thresholds.reads_baseline(rule) else [rule.variant]
        if rule.signal.startswith("latency_p"):
            parts = bk.HIST
        elif rule.signal == "reject_mix_divergence":
            parts = bk.REASONS
        elif rule.signal.startswith(signals.METRIC_PREFIX):
            parts = bk.METRICS
        else:
            parts = 0
        if th.against == "rest":  # the reference is the variant's total minus the segment
            variants, extra = [rule.variant], (rule.variant, "")
            rest = needs.setdefault(extra, {})
            for w in method.window_steps(rule, res):
                rest[w] = rest.get(w, 0) | parts
        for variant in variants:
            if method.stage_totals(th):
                sequential.add((variant, kind))
                continue
            if rule.signal in signals.GAUGE_SIGNALS:
                continue
            windows = needs.setdefault((variant, kind), {})
            for w in method.window_steps(rule, res):
                windows[w] = windows.get(w, 0) | parts
    return needs, sequential


def add_order(ev: Order, b: Bucket, ts: float = 0.0) -> None:
    """One order event into a bucket (module-level constants: this is the hot path).
    ``ts`` is unused: the signature of an event handler's ``ingest``, which this is."""
    c = b.c
    c[EVENTS] += 1
    c[ORDERS] += 1
    status = ev.status
    err = ev.error
    if err is not None or status in _OUTCOMES:
        c[OUTCOMES] += 1
        if status == "filled":
            c[FILLED] += 1
        elif status == "rejected":
            c[REJECTED] += 1
            reason = ev.reject_reason or "unspecified"
            b.reasons[reason] = b.reasons.get(reason, 0) + 1
            add_example(b.examples, ev.corr_id or ev.order_id)
        elif status == "partially_filled":
            c[PARTIAL] += 1
        elif status == "cancelled":
            c[CANCELLED] += 1
        if err is not None or status == "timed_out":
            c[ERRORS] += 1
            c[_ERROR_SLOT[err] if err is not None else ERR_TIMEOUT] += 1
            add_example(b.examples, ev.corr_id or ev.order_id)
    lat = ev.latency_ms
    if lat is not None:
        c[LAT_SUM] += round(lat * LAT_SCALE)
        c[LAT_N] += 1
        hb = _ceil(_log(lat) * _INV_LOG_GAMMA) if lat >= 1e-3 else bk.ZERO_BIN  # latency_bin
        hist = b.hist
        hist[hb] = hist.get(hb, 0) + 1
    if ev.pnl_minor is not None:
        c[PNL] += ev.pnl_minor
        c[PNL_N] += 1
    price, ref = ev.price, ev.ref_price
    if price is not None and ref is not None:
        c[SLIP_SUM] += round(abs(price - ref) / ref * BPS_MILLI)
        c[SLIP_N] += 1
    if ev.failover:
        c[FAILOVERS] += 1
    if ev.ts > b.max_ts:  # noqa: PLR1730 - hot path: a compare is cheaper than max()
        b.max_ts = ev.ts
