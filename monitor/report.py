"""The replay report: one self-contained HTML page with embedded PNG plots.

For every gating rule: the variant's signal and the baseline variant's (or the learned
baseline) over event time, the threshold, pending (amber) and firing (red) spans, stage
changes (grey) and decisions (labelled vertical lines); then the decision timeline. Drawn
with matplotlib's Agg backend, no display needed.
"""

from __future__ import annotations

import base64
import html
import io
import math
from datetime import UTC, datetime
from typing import Any

from monitor.core.replay import ReplayResult, Sample

ACTION_COLOURS = {
    "halt": "#000000",
    "rollback": "#b30000",
    "freeze": "#1f4e9e",
    "pause": "#d97706",
    "reduce_scope": "#7c3aed",
    "hold": "#6b7280",
    "promote": "#15803d",
}


def _nan(values: list[float | None]) -> list[float]:
    """Gaps (no data) as NaN, which matplotlib leaves blank."""
    return [math.nan if v is None else v for v in values]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _spans(samples: list[Sample], state: str) -> list[tuple[float, float]]:
    spans: list[tuple[float, float]] = []
    start: float | None = None
    for s in samples:
        if s.state == state and start is None:
            start = s.ts
        elif s.state != state and start is not None:
            spans.append((start, s.ts))
            start = None
    if start is not None and samples:
        spans.append((start, samples[-1].ts))
    return spans


def _plot(result: ReplayResult, rollout_id: str, label: str, info: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = result.series[(rollout_id, label)]
    t0 = samples[0].ts
    minutes = [(s.ts - t0) / 60 for s in samples]
    fig, ax = plt.subplots(figsize=(10, 3.2), dpi=90)
    try:
        ax.plot(
            minutes,
            _nan([s.value for s in samples]),
            lw=1.2,
            color="#dc2626",
            label=f"{info['variant']} {info['signal']}",
        )
        if any(s.reference is not None for s in samples):
            ref_label = "reference (baseline variant / learned)"
            ax.plot(
                minutes,
                _nan([s.reference for s in samples]),
                lw=1.0,
                color="#2563eb",
                label=ref_label,
            )
        if any(s.threshold is not None for s in samples):
            ax.step(
                minutes,
                _nan([s.threshold for s in samples]),
                where="post",
                lw=0.9,
                ls="--",
                color="#111827",
                label="threshold",
            )
        for state, colour in (("pending", "#fbbf24"), ("firing", "#ef4444")):
            for a, b in _spans(samples, state):
                ax.axvspan((a - t0) / 60, (b - t0) / 60, color=colour, alpha=0.18, lw=0)
        for change in result.stages:
            if change.rollout_id == rollout_id and change.ts >= t0:
                ax.axvline((change.ts - t0) / 60, color="#9ca3af", lw=0.8, ls=":")
        for cmd in result.commands:
            if cmd.rollout_id == rollout_id and cmd.issued_at >= t0:
                x = (cmd.issued_at - t0) / 60
                ax.axvline(
                    x,
                    color=ACTION_COLOURS.get(cmd.action, "#000"),
                    lw=1.4,
                    alpha=0.5 if cmd.advisory else 0.9,
                )
                ax.annotate(
                    cmd.action,
                    (x, 1.0),
                    xycoords=("data", "axes fraction"),
                    rotation=90,
                    fontsize=7,
                    va="top",
                    ha="right",
                )
        ax.set_xlabel(f"minutes since {_iso(t0)} UTC")
        ax.set_title(
            f"{label}  ({info['kind']}, action {info['action']}"
            f"{', dry-run' if info['dry_run'] else ''})",
            fontsize=10,
        )
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3)
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def render_html(result: ReplayResult, title: str = "rollguard replay") -> str:
    """The whole report as one HTML string (plots embedded as data: URIs)."""
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;"
        "padding:3px 6px;text-align:left;vertical-align:top}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p>{result.lines} lines, {result.events} events applied to the core, "
        f"{sum(result.dead.values())} dead letters {dict(result.dead) or ''}, "
        f"counters {esc(str(result.counters))}; {len(result.commands)} decisions.</p>",
        "<h2>Timeline</h2><table><tr><th>event time (UTC)</th><th>rollout</th><th>stage</th>"
        "<th>what</th><th>reason</th></tr>",
    ]
    rows: list[tuple[float, int, str]] = []
    for ch in result.stages:
        rows.append(
            (
                ch.ts,
                1,
                f"<tr><td>{_iso(ch.ts)}</td><td>{esc(ch.rollout_id)}</td>"
                f"<td>{esc(ch.stage)}</td><td>stage {esc(ch.status)}"
                f" ({ch.traffic_pct if ch.traffic_pct is not None else '-'} %)</td>"
                "<td></td></tr>",
            )
        )
    for cmd in result.commands:
        colour = ACTION_COLOURS.get(cmd.action, "#000")
        adv = " (advisory)" if cmd.advisory else ""
        rows.append(
            (
                cmd.issued_at,
                0,
                f"<tr><td>{_iso(cmd.issued_at)}</td>"
                f"<td>{esc(cmd.rollout_id)}</td><td>{esc(cmd.stage)}</td>"
                f"<td style='color:{colour}'><b>{esc(cmd.action)}</b>{adv}</td>"
                f"<td>{esc(cmd.reason)}</td></tr>",
            )
        )
    parts.extend(row for _, _, row in sorted(rows, key=lambda x: (x[0], x[1])))
    parts.append("</table><h2>Gating signals</h2>")
    for (rollout_id, label), info in sorted(result.rule_info.items()):
        png = _plot(result, rollout_id, label, info)
        parts.append(
            f"<h3>{esc(rollout_id)} · {esc(label)}</h3>"
            f"<img alt='{esc(label)}' src='data:image/png;base64,{png}'>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)
