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
from pathlib import Path
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


def _plot(result: ReplayResult, rollout_id: str, labels: list[str]) -> str:
    """One PNG per rollout: a panel per rule, sharing the event-time axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = min(result.series[(rollout_id, label)][0].ts for label in labels)
    fig, axes = plt.subplots(
        len(labels), 1, figsize=(11, 2.3 * len(labels)), dpi=72, sharex=True, squeeze=False
    )
    try:
        for ax, label in zip(axes[:, 0], labels, strict=True):
            _panel(ax, result, rollout_id, label, t0)
        axes[-1, 0].set_xlabel(f"minutes since {_iso(t0)} UTC")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _panel(ax: Any, result: ReplayResult, rollout_id: str, label: str, t0: float) -> None:
    info = result.rule_info[(rollout_id, label)]
    samples = result.series[(rollout_id, label)]
    minutes = [(s.ts - t0) / 60 for s in samples]
    ax.plot(
        minutes,
        _nan([s.value for s in samples]),
        lw=1.2,
        color="#dc2626",
        label=f"{info['variant']}",
    )
    if any(s.reference is not None for s in samples):
        ax.plot(
            minutes,
            _nan([s.reference for s in samples]),
            lw=1.0,
            color="#2563eb",
            label=info.get("reference", "reference"),
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
        if change.rollout_id == rollout_id:
            ax.axvline((change.ts - t0) / 60, color="#9ca3af", lw=0.8, ls=":")
    for cmd in result.commands:
        if cmd.rollout_id == rollout_id:
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
    dry = ", dry-run" if info["dry_run"] else ""
    ax.set_title(
        f"{label}: {info['signal']} ({info['kind']} -> {info['action']}{dry})",
        fontsize=9,
        loc="left",
    )
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)


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
    parts.append(
        "</table><h2>Gating signals</h2><p>Red: the watched variant; blue: the baseline "
        "variant (or the learned baseline); dashed: threshold; amber/red spans: pending/firing; "
        "dotted: stage changes; labelled lines: decisions.</p>"
    )
    by_rollout: dict[str, list[str]] = {}
    for rollout_id, label in sorted(result.rule_info):
        by_rollout.setdefault(rollout_id, []).append(label)
    for rollout_id, labels in by_rollout.items():
        png = _plot(result, rollout_id, labels)
        parts.append(
            f"<h3>{esc(rollout_id)}</h3>"
            f"<img alt='{esc(rollout_id)}' src='data:image/png;base64,{png}'>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_pngs(
    result: ReplayResult, out_dir: Path, only: dict[str, list[str]] | None = None
) -> list[Path]:
    """One PNG per rollout (a panel per rule) next to the HTML report.

    ``only`` limits rollouts and their rule panels, e.g. ``{"r1": ["canary-p99-latency"]}``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    by_rollout: dict[str, list[str]] = {}
    for rollout_id, label in sorted(result.rule_info):
        if only is None or label in only.get(rollout_id, []):
            by_rollout.setdefault(rollout_id, []).append(label)
    paths = []
    for rollout_id, labels in by_rollout.items():
        path = out_dir / f"{rollout_id}.png"
        path.write_bytes(base64.b64decode(_plot(result, rollout_id, labels)))
        paths.append(path)
    return paths
