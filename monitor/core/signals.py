"""The signal catalogue: what a rule may watch and how each value comes out of a window.

A signal value is computed from a window :class:`~monitor.core.buckets.Bucket` (sums over
the rule's window) and returns ``(value, samples)``; ``samples`` feeds the rule's minimum
sample gate (0 means no data). Gauges (freshness, status mismatches, cumulative P&L,
drawdown) are read from the scope's running state instead of a window; freshness is the
time since the variant's own last order, shadow decision or metric (a ``Status`` is another
system's report about it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from monitor.core import buckets as bk
from monitor.core.buckets import Bucket

SignalFn = Callable[[Bucket, float], tuple[float | None, float]]
"""(window sums, window length s) -> (value or None, samples)."""

RATES: Final[dict[str, tuple[tuple[int, ...], tuple[int, ...]]]] = {
    # name: (numerator slots, denominator slots) — the denominator is outcomes + errors.
    "error_rate": ((bk.ERRORS,), (bk.OUTCOMES,)),
    "timeout_rate": ((bk.ERR_TIMEOUT,), (bk.OUTCOMES,)),
    "disconnect_rate": ((bk.ERR_DISCONNECT,), (bk.OUTCOMES,)),
    "off_quotes_rate": ((bk.ERR_OFF_QUOTES,), (bk.OUTCOMES,)),
    "reject_rate": ((bk.REJECTED,), (bk.OUTCOMES,)),
    "fill_rate": ((bk.FILLED,), (bk.OUTCOMES,)),
    "partial_fill_rate": ((bk.PARTIAL,), (bk.OUTCOMES,)),
    "cancel_rate": ((bk.CANCELLED,), (bk.OUTCOMES,)),
    "shadow_match_rate": ((bk.SH_MATCH,), (bk.SH_PAIRS, bk.SH_UNMATCHED)),
    "shadow_mismatch_rate": ((bk.SH_PAIRS, bk.SH_UNMATCHED), (bk.SH_PAIRS, bk.SH_UNMATCHED)),
}
"""Proportions: usable with sequential tests and burn-rate rules (counts of bad / total)."""


def rate_counts(name: str, w: Bucket) -> tuple[float, float]:
    """(successes, trials) of a rate signal in a window."""
    num_slots, den_slots = RATES[name]
    c = w.c
    # one slot (most rates): read it; a generator sum per call was a tenth of a CUSUM's step
    num = c[num_slots[0]] if len(num_slots) == 1 else sum(c[i] for i in num_slots)
    den = c[den_slots[0]] if len(den_slots) == 1 else sum(c[i] for i in den_slots)
    if name == "shadow_mismatch_rate":
        num -= c[bk.SH_MATCH]
    return num, den


def _rate(name: str) -> SignalFn:
    def fn(w: Bucket, window_s: float) -> tuple[float | None, float]:
        num, den = rate_counts(name, w)
        return (num / den if den > 0 else None), den

    return fn


def _quantile(q: float) -> SignalFn:
    def fn(w: Bucket, window_s: float) -> tuple[float | None, float]:
        return w.quantile(q), w.c[bk.LAT_N]

    return fn


def _mean(sum_slot: int, n_slot: int, scale: int) -> SignalFn:
    def fn(w: Bucket, window_s: float) -> tuple[float | None, float]:
        n = w.c[n_slot]
        return (w.c[sum_slot] / scale / n if n > 0 else None), n

    return fn


def _count(slot: int, samples_slot: int) -> SignalFn:
    def fn(w: Bucket, window_s: float) -> tuple[float | None, float]:
        return w.c[slot], w.c[samples_slot]

    return fn


def _throughput(w: Bucket, window_s: float) -> tuple[float | None, float]:
    return w.c[bk.EVENTS] / window_s, w.c[bk.EVENTS]


def _pnl_per_order(w: Bucket, window_s: float) -> tuple[float | None, float]:
    n = w.c[bk.OUTCOMES]
    return (w.c[bk.PNL] / n if n > 0 else None), n


QUANTILES: Final[dict[str, float]] = {
    "latency_p50_ms": 0.50,
    "latency_p95_ms": 0.95,
    "latency_p99_ms": 0.99,
}
"""Latency quantile signals and their quantile."""

WINDOW_SIGNALS: Final[dict[str, SignalFn]] = {
    **{name: _rate(name) for name in RATES},
    **{name: _quantile(q) for name, q in QUANTILES.items()},
    "latency_mean_ms": _mean(bk.LAT_SUM, bk.LAT_N, bk.LAT_SCALE),
    "slippage_bps": _mean(bk.SLIP_SUM, bk.SLIP_N, bk.BPS_SCALE),
    "shadow_price_dev_bps": _mean(bk.SH_DEV_SUM, bk.SH_DEV_N, bk.BPS_SCALE),
    "pnl": _count(bk.PNL, bk.PNL_N),
    "pnl_per_order": _pnl_per_order,
    "failovers": _count(bk.FAILOVERS, bk.EVENTS),
    "shadow_unmatched": _count(bk.SH_UNMATCHED, bk.SH_PAIRS),
    "orders": _count(bk.OUTCOMES, bk.EVENTS),
    "throughput": _throughput,
}
"""Signals computed from a rule's window."""

GAUGE_SIGNALS: Final[frozenset[str]] = frozenset(
    {"freshness_s", "status_mismatches", "pnl_cum", "drawdown"}
)
"""Signals read from running state at evaluation time (no window)."""

CROSS_SIGNALS: Final[frozenset[str]] = frozenset({"reject_mix_divergence"})
"""Signals comparing the variant with the baseline variant inside one signal value."""

METRIC_PREFIX: Final = "metric:"
"""``metric:<name>``: mean of a custom Metric event's values over the window."""

ALL_SIGNALS: Final[frozenset[str]] = frozenset(WINDOW_SIGNALS) | GAUGE_SIGNALS | CROSS_SIGNALS


def metric_value(w: Bucket, name: str) -> tuple[float | None, float]:
    acc = w.metrics.get(name)
    if acc is None or acc[1] <= 0:
        return None, 0.0
    return acc[0] / bk.METRIC_SCALE / acc[1], acc[1]


def is_known(signal: str) -> bool:
    return signal in ALL_SIGNALS or (
        signal.startswith(METRIC_PREFIX) and len(signal) > len(METRIC_PREFIX)
    )


def window_value(signal: str, w: Bucket, window_s: float) -> tuple[float | None, float]:
    """Value and samples of a window signal (or a ``metric:`` signal)."""
    if signal.startswith(METRIC_PREFIX):
        return metric_value(w, signal[len(METRIC_PREFIX) :])
    return WINDOW_SIGNALS[signal](w, window_s)
