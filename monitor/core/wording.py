"""Signals, values and durations in an operator's words: names, units, numbers, time spans.

Every surface that shows a signal to a human (decision reasons, the report's axes, ``tail``,
``status``) takes its label and unit from here, so "p99 latency" and "ms" read the same
everywhere. Rates are shown in percent, latencies in ms, money in the events' integer minor
units (cents for USD), spans as "45 s" / "2 min 30 s".
"""

from __future__ import annotations

import math
from typing import Final, NamedTuple

from monitor.core import signals


class SignalWords(NamedTuple):
    label: str
    """What it is, lower case: "p99 latency", "error rate"."""
    unit: str
    """ms, %, bps, s, /s, minor units, or a count's noun ("failovers"); "" for none."""
    bad: str = "bad events"
    """What a CUSUM over this signal counts (rates only): "errors", "slow orders"."""


WORDS: Final[dict[str, SignalWords]] = {
    "error_rate": SignalWords("error rate", "%", "errors"),
    "timeout_rate": SignalWords("timeout rate", "%", "timeouts"),
    "disconnect_rate": SignalWords("disconnect rate", "%", "disconnects"),
    "off_quotes_rate": SignalWords("off-quote rate", "%", "off-quotes"),
    "reject_rate": SignalWords("reject rate", "%", "rejects"),
    "fill_rate": SignalWords("fill rate", "%", "unfilled orders"),
    "partial_fill_rate": SignalWords("partial-fill rate", "%", "partial fills"),
    "cancel_rate": SignalWords("cancel rate", "%", "cancels"),
    "shadow_match_rate": SignalWords("routing match rate", "%", "routing mismatches"),
    "shadow_mismatch_rate": SignalWords("routing mismatch rate", "%", "routing mismatches"),
    "latency_p50_ms": SignalWords("p50 latency", "ms", "slow orders"),
    "latency_p95_ms": SignalWords("p95 latency", "ms", "slow orders"),
    "latency_p99_ms": SignalWords("p99 latency", "ms", "slow orders"),
    "latency_mean_ms": SignalWords("mean latency", "ms"),
    "slippage_bps": SignalWords("slippage", "bps"),
    "shadow_price_dev_bps": SignalWords("price deviation from production", "bps"),
    "pnl": SignalWords("P&L over the window", "minor units"),
    "pnl_per_order": SignalWords("P&L per order", "minor units"),
    "pnl_cum": SignalWords("cumulative P&L", "minor units"),
    "drawdown": SignalWords("drawdown from its P&L peak", "minor units"),
    "failovers": SignalWords("LP failovers", "failovers"),
    "orders": SignalWords("orders", "orders"),
    "throughput": SignalWords("throughput", "events/s"),
    "freshness_s": SignalWords("time since its last report", "s"),
    "status_mismatches": SignalWords("objects in status mismatch", "objects"),
    "shadow_unmatched": SignalWords("unmatched shadow decisions", "decisions"),
    "reject_mix_divergence": SignalWords("reject-cause mix divergence (Jensen-Shannon)", ""),
}


def words(signal: str) -> SignalWords:
    """Label and unit of a signal (``metric:<name>``: the metric's name, no unit).

    >>> words("latency_p99_ms").label, words("metric:queue_depth").label
    ('p99 latency', 'metric queue_depth')
    """
    if signal.startswith(signals.METRIC_PREFIX):
        return SignalWords(f"metric {signal[len(signals.METRIC_PREFIX) :]}", "")
    return WORDS.get(signal, SignalWords(signal, ""))


def is_percent(signal: str) -> bool:
    return words(signal).unit == "%"


def number(x: float, digits: int = 3) -> str:
    """``digits`` significant digits, no exponent, thousands separated.

    >>> number(118.4), number(87.39), number(0.0312), number(-5000000), number(2.0)
    ('118', '87.4', '0.0312', '-5,000,000', '2')
    """
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    text = f"{x:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def value(signal: str, x: float | None) -> str:
    """A signal's value with its unit.

    >>> value("error_rate", 0.0312), value("latency_p99_ms", 118.4), value("failovers", 5.0)
    ('3.12 %', '118 ms', '5 failovers')
    >>> value("pnl_cum", -5000000.0), value("metric:depth", 3.5), value("error_rate", None)
    ('-5,000,000 minor units', '3.5', 'no data')
    """
    if x is None:
        return "no data"
    unit = words(signal).unit
    if unit == "%":
        return f"{number(x * 100)} %"
    return f"{number(x)} {unit}".rstrip()


def change(signal: str, x: float, reference: float) -> str:
    """How far ``x`` is from ``reference``: percent of it, or points for a rate.

    >>> change("latency_p95_ms", 118.0, 87.0), change("error_rate", 0.031, 0.01)
    ('+36 %', '+2.1 points')
    """
    if is_percent(signal):
        return f"{(x - reference) * 100:+.2g} points"
    if reference == 0:
        return f"{x - reference:+,.3g}"
    return f"{(x / reference - 1) * 100:+.0f} %"


def span(seconds: float) -> str:
    """A duration as a human says it.

    >>> span(45), span(120), span(150), span(3900), span(0.4)
    ('45 s', '2 min', '2 min 30 s', '1 h 5 min', '0.4 s')
    """
    if seconds < 10 and seconds != int(seconds):
        return f"{seconds:.1g} s"
    s = round(seconds)
    if s < 90:
        return f"{s} s"
    if s < 3600:
        m, rest = divmod(s, 60)
        return f"{m} min" + (f" {rest} s" if rest else "")
    h, rest = divmod(s, 3600)
    return f"{h} h" + (f" {rest // 60} min" if rest // 60 else "")
