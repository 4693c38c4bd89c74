"""Every decision's reason, in the operator's language, with the statistics one line below.

A reason is two lines: the headline says what was seen against what limit, in the signal's
unit, how long it had been bad and what follows ("canary p99 latency 161 ms vs baseline
100 ms (+60 %, limit +30 %), bad for 2 min (rule: 2 min) → rollback"); the second line
keeps the numbers a statistician checks (rule, signal, comparator, window, samples, test
statistics). The core writes this text into each command's ``reason``; ``tail``, the replay
report, Grafana annotations and ``status`` show that same text (:func:`lines` splits it),
so the wording lives here and nowhere else.

:func:`explain_rule` words one rule's evidence (:class:`topics.commands.Evidence`, plus
what the core knows beside it: the rule, how long the condition held, the signal value a
CUSUM watches). :func:`decision_reason` joins the rules behind one decision with its action.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from monitor.core.wording import change, is_percent, number, span, value, words

if TYPE_CHECKING:
    from monitor.core.model import Rule
    from topics.commands import Evidence

ARROW = "→"
_SIDE = {">": "over", ">=": "at or over", "<": "under", "<=": "at or under"}


class Reason(NamedTuple):
    """One rule's part of a reason: the condition in words, and its statistics."""

    condition: str
    details: str


def lines(text: str) -> tuple[str, str]:
    """(headline, statistics) of a reason text; a one-line reason has no statistics.

    >>> lines("canary error rate 3 % → pause\\nerr: error_rate canary 0.03 > 0.02")
    ('canary error rate 3 % → pause', 'err: error_rate canary 0.03 > 0.02')
    """
    headline, _, details = text.partition("\n")
    return headline, details.replace("\n", " | ")


def decision_reason(
    action: str, parts: Sequence[Reason], *, driven_by: str = "", prefix: str = ""
) -> str:
    """The reason of one decision: conditions joined, then ``→ action``; statistics below."""
    headline = prefix + "; ".join(p.condition for p in parts) + driven_by
    details = " | ".join(p.details for p in parts if p.details)
    return f"{headline} {ARROW} {action}" + (f"\n{details}" if details else "")


def _g(x: float | None) -> str:
    return "none" if x is None else f"{x:.6g}"


def _who(ev: Evidence) -> str:
    seg = ",".join(f"{k}={v}" for k, v in sorted((ev.segment or {}).items()))
    return f"{ev.variant} {seg}".strip()


def _delta(signal: str, d: float) -> str:
    """A difference in the signal's unit: points for rates."""
    if is_percent(signal):
        return f"{d * 100:+.2g} points"
    unit = words(signal).unit
    return f"{'+' if d >= 0 else '-'}{number(abs(d))} {unit}".rstrip()


def explain_rule(
    ev: Evidence,
    *,
    rule: Rule | None = None,
    bad_for_s: float | None = None,
    signal_value: float | None = None,
) -> Reason:
    """One rule's evidence in words (``bad_for_s``: how long the condition had held)."""
    condition = _condition(ev, rule, signal_value)
    if bad_for_s is not None:
        need = f"rule: {span(ev.for_s)}" if ev.for_s else "rule: at once"
        condition += f", bad for {span(bad_for_s)} ({need})"
    return Reason(condition, _details(ev))


def _condition(ev: Evidence, rule: Rule | None, signal_value: float | None) -> str:
    w, who, sig = words(ev.signal), _who(ev), ev.signal
    obs, ref, thr, cmp = ev.observed, ev.baseline, ev.threshold, ev.comparator
    stats = ev.stats
    if cmp == "cusum>=":
        return _cusum(ev, rule, signal_value)
    if cmp == "burn>":
        return _burn(ev, rule)
    if cmp == "slowdown>=":
        return _slowdown(ev, rule, signal_value)
    if cmp == "mix_e_value>=":
        return _cause_shift(ev)
    if sig == "freshness_s":
        if obs is None:
            return f"{who} has not reported at all"
        return f"{who} silent for {span(obs)} (limit {span(thr or 0.0)})"
    if obs is None:
        return f"{who} {w.label}: no data (this rule treats silence as a failure)"
    if sig == "status_mismatches":
        return (
            f"{number(obs)} {who} objects in status mismatch with other systems "
            f"(limit {number(thr or 0.0)})"
        )
    seen = f"{who} {w.label} {value(sig, obs)}"
    if thr is None:
        return seen
    if cmp in _SIDE:
        if ref is None:  # absolute
            return f"{seen}, {_SIDE[cmp]} the {value(sig, thr)} limit"
        guard = stats.get("baseline_variant")
        now = "" if guard is None else f"; baseline now {value(sig, guard)}"
        return f"{seen} vs its learned normal {value(sig, ref)} (limit {value(sig, thr)}{now})"
    if cmp == "score>":
        score = stats.get("score", 0.0)
        return (
            f"{seen}, unusual for its learned normal {value(sig, ref)} "
            f"(anomaly score {score:.2f}, limit {thr:g})"
        )
    if cmp.startswith("ratio") and ref:
        return (
            f"{seen} vs baseline {value(sig, ref)} ({change(sig, obs, ref)}, "
            f"limit {change(sig, thr, ref)})"
        )
    if cmp.startswith("difference") and ref is not None:
        return (
            f"{seen} vs baseline {value(sig, ref)} ({_delta(sig, obs - ref)}, "
            f"limit {_delta(sig, thr - ref)})"
        )
    if cmp == "e_value>=":
        since = (
            "since the stage began"
            if rule is None or rule.threshold.over == "stage"
            else f"over the last {span(ev.window_s or 0.0)}"
        )
        return (
            f"{seen} vs baseline {value(sig, ref)} {since}: worse beyond chance "
            f"(evidence {number(stats.get('e_value', 0.0))} ≥ {number(thr)}, "
            f"{(1 - 1 / thr) * 100:.3g} % confidence)"
        )
    return f"{seen} {cmp} {value(sig, thr)}"


def _level(ev: Evidence) -> str:
    """Where a CUSUM's evidence stands against its alarm level (it stays on until 0)."""
    s, h = ev.observed or 0.0, ev.threshold or 0.0
    if h <= 0:
        return f"evidence {number(s)} nats"
    if s >= h:
        return f"evidence at {number(s / h, 2)}× the alarm level"
    return (
        f"evidence crossed the alarm level and has not drained yet (now {s / h * 100:.0f} % of "
        "it; the rule stays on until it is back to zero)"
    )


def _cusum(ev: Evidence, rule: Rule | None, signal_value: float | None) -> str:
    w, who, sig, stats = words(ev.signal), _who(ev), ev.signal, ev.stats
    p0 = stats.get("p0", 0.0)
    limit, quantile = stats.get("limit"), stats.get("baseline_quantile")
    if limit is not None and quantile is not None:  # latency: orders slower than a limit
        q = w.label.split()[0]  # "p95"
        seen = (
            f"{who} {w.label} {value(sig, signal_value)} vs baseline {value(sig, quantile)}: "
            if signal_value is not None
            else f"{who}: "
        )
        return (
            f"{seen}more orders slower than {value(sig, limit)} ({number(limit / quantile)} × "
            f"baseline {q}) than the {number(p0 * 100)} % expected, {_level(ev)}"
        )
    vs_baseline = (
        rule.threshold.kind == "vs_baseline" if rule is not None else "baseline_samples" in stats
    )
    seen = f"{who} {w.label} {value(sig, signal_value)}" if signal_value is not None else who
    expected = "expected from the baseline" if vs_baseline else "allowed"
    return f"{seen}: more {w.bad} than the {number(p0 * 100)} % {expected}, {_level(ev)}"


def _slowdown(ev: Evidence, rule: Rule | None, signal_value: float | None) -> str:
    """slowdown: the variant's latencies look like the baseline's scaled up."""
    w, who, sig = words(ev.signal), _who(ev), ev.signal
    seen = (
        f"{who} {w.label} {value(sig, signal_value)} vs baseline {value(sig, ev.baseline)}: "
        if signal_value is not None and ev.baseline is not None
        else f"{who}: "
    )
    ratio = dict(rule.threshold.params).get("ratio") if rule is not None else None
    tuned = f" (tuned to {number(ratio)}×)" if ratio else ""
    return f"{seen}its orders slower than the baseline's at the same time{tuned}, {_level(ev)}"


def _cause_shift(ev: Evidence) -> str:
    """cause_shift: the variant's rejection causes are not drawn like the baseline's."""
    stats, thr = ev.stats, ev.threshold or 0.0
    tv = stats.get("total_variation")
    moved = "" if tv is None else f" ({number(tv * 100)} % of its rejects would have to move)"
    return (
        f"{_who(ev)} rejection causes differ from the baseline's over the same periods{moved}, "
        f"beyond chance since the stage began (evidence {number(stats.get('max_e_value', 0.0))}"
        f" ≥ {number(thr)}, {(1 - 1 / thr) * 100:.3g} % confidence; "
        f"{number(stats.get('rejects_variant', 0.0))} vs "
        f"{number(stats.get('rejects_baseline', 0.0))} rejects)"
    )


def _burn(ev: Evidence, rule: Rule | None) -> str:
    who, sig, stats = _who(ev), ev.signal, ev.stats
    long_s = ev.window_s or 0.0
    short = f"the last {span(rule.threshold.short_s)}" if rule is not None else "a short window"
    budget = f" of a {number((1 - rule.threshold.slo) * 100)} % budget" if rule else ""
    return (
        f"{who} {words(sig).label} {value(sig, stats.get('rate_long'))} over the last "
        f"{span(long_s)} and {value(sig, stats.get('rate_short'))} over {short}: burning the "
        f"error budget{budget} {number(ev.observed or 0.0)}× and "
        f"{number(stats.get('burn_short', 0.0))}× too fast (limit {number(ev.threshold or 0.0)}×)"
    )


def driver_text(drivers: Sequence[Evidence]) -> str:
    """ ", driven by region=eu (error rate 9.1 % vs 1.2 % in the other segments)"."""
    if not drivers:
        return ""
    return ", driven by " + ", ".join(
        ",".join(f"{k}={v}" for k, v in sorted((d.segment or {}).items()))
        + f" ({words(d.signal).label} {value(d.signal, d.observed)} vs "
        f"{value(d.signal, d.baseline)} in the other segments)"
        for d in drivers
    )


def _details(ev: Evidence) -> str:
    """The statistics: raw names and numbers (6 significant digits), nothing rounded away."""
    seg = ",".join(f"{k}={v}" for k, v in sorted((ev.segment or {}).items()))
    where = f"{ev.signal} of {ev.variant}" + (f" {{{seg}}}" if seg else "")
    stats = dict(ev.stats)
    if ev.comparator in ("cusum>=", "slowdown>="):
        head = (
            f"{ev.rule}: CUSUM of {where} {_g(ev.observed)} nats, alarm at {_g(ev.threshold)} "
            "(on from the alarm until it drains to 0)"
        )
        stats.pop("cusum", None)
    else:
        head = f"{ev.rule}: {where} = {_g(ev.observed)} {ev.comparator} {_g(ev.threshold)}"
        if ev.baseline is not None:
            head += f", baseline {_g(ev.baseline)}"
    parts = [head]
    if ev.window_s:
        parts.append(f"window {ev.window_s:g}s")
    if ev.samples is not None:
        parts.append(f"{ev.samples} samples")
    if ev.for_s:
        parts.append(f"for {ev.for_s:g}s")
    if stats:
        parts.append(" ".join(f"{k}={_g(v)}" for k, v in sorted(stats.items())))
    return ", ".join(parts)
