"""A picture of each dashboard with the data a Prometheus holds: what Grafana would show.

``rollguard dashboards preview --prometheus-url URL`` lays the rendered JSON's panels out on
Grafana's 24-column grid and fills each with its targets' data (:mod:`dashboards.prom`):
time series as lines with their legends, stats as the latest value in the panel's unit,
tables as rows of labels and values, state timelines as steps (0 inactive, 1 pending,
2 firing), and the decisions of the metric annotation as vertical lines. For reviewing a
dashboard change, or a fleet's state, where no Grafana runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend
from matplotlib.ticker import FuncFormatter, MaxNLocator

from dashboards import render
from dashboards.prom import PanelData, Prometheus, decision_times, panel_data, variables

UNIT_W: Final = 0.62  # inches per grid column
UNIT_H: Final = 0.36  # inches per grid row (Grafana: 30 px)
COLOURS: Final = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777")


@dataclass
class PanelReport:
    dashboard: str
    title: str
    type: str
    series: int


def fmt(value: float, unit: str) -> str:
    """A stat's value in the panel's Grafana unit.

    >>> fmt(0.25, "percentunit"), fmt(20.0, "percent"), fmt(1234.5, "ops"), fmt(3.0, "s")
    ('25%', '20%', '1.23k ops/s', '3 s')
    """
    if unit == "percentunit":
        return f"{value * 100:.3g}%"
    if unit == "percent":
        return f"{value:.3g}%"
    suffix = {"ops": " ops/s", "s": " s"}.get(unit, "")
    for size, mark in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{mark}{suffix}"
    return f"{value:.3g}{suffix}"


def _clock(x: float, _pos: int) -> str:
    return datetime.fromtimestamp(x).strftime("%H:%M:%S")


def _timeseries(ax: Any, data: PanelData, marks: list[tuple[float, str]], stepped: bool) -> None:
    if not data.series:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(
            0.5,
            0.5,
            "no data",
            ha="center",
            va="center",
            fontsize=10,
            color="#9ca3af",
            transform=ax.transAxes,
        )
        return
    lo = min((p[0] for s in data.series for p in s.points), default=0.0)
    hi = max((p[0] for s in data.series for p in s.points), default=1.0)
    for i, s in enumerate(data.series[:8]):
        xs, ys = [p[0] for p in s.points], [p[1] for p in s.points]
        if data.unit == "percentunit":
            ys = [y * 100 for y in ys]
        draw = ax.step if stepped else ax.plot
        kw = {"where": "post"} if stepped else {}
        draw(xs, ys, lw=1.2, color=COLOURS[i % len(COLOURS)], label=s.legend[:40], **kw)
    for when, text in marks:
        if lo <= when <= hi:
            ax.axvline(when, color="#b30000", lw=1.0, ls="--")
            ax.annotate(
                text,
                (when, 0.97),
                xycoords=("data", "axes fraction"),
                fontsize=6,
                rotation=90,
                va="top",
                ha="right",
                color="#b30000",
            )
    if stepped:
        ax.set_yticks([0, 1, 2], ["inactive", "pending", "firing"])
    ax.xaxis.set_major_formatter(FuncFormatter(_clock))
    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.tick_params(labelsize=6)
    ax.grid(alpha=0.3)
    if data.series:
        ax.legend(fontsize=6, loc="upper left", framealpha=0.8)
    if data.unit in ("percentunit", "percent", "s", "ops"):
        ax.set_ylabel(
            {"percentunit": "%", "percent": "%", "s": "s", "ops": "ops/s"}[data.unit], fontsize=6
        )


def _stat(ax: Any, data: PanelData) -> None:
    ax.set_axis_off()
    if not data.series:
        ax.text(0.5, 0.4, "no data", ha="center", va="center", fontsize=10, color="#9ca3af")
        return
    s = data.series[0]
    value = s.points[-1][1] if s.points else float("nan")
    text = s.legend if s.named and not data.unit else fmt(value, data.unit)  # "canary-5"
    ax.text(
        0.5,
        0.4,
        text,
        ha="center",
        va="center",
        fontsize=16,
        fontweight="bold",
        color="#1f2937",
        parse_math=False,
    )


def _table(ax: Any, data: PanelData) -> None:
    ax.set_axis_off()
    rows = [
        f"{s.legend[:70]}  →  {fmt(s.points[-1][1], data.unit)}" for s in data.series if s.points
    ][:12]
    ax.text(
        0.01,
        0.92,
        "\n".join(rows) or "no data",
        va="top",
        fontsize=6.5,
        family="monospace",
        parse_math=False,
    )


def draw(
    prom: Prometheus,
    data: dict[str, Any],
    path: Path,
    values: dict[str, str],
    start: float,
    end: float,
) -> list[PanelReport]:
    """One dashboard's picture with data; returns what each panel received."""
    panels = list(render.iter_panels(data))
    height = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    fig = Figure(figsize=(24 * UNIT_W, (height + 2) * UNIT_H), dpi=100)
    title = str(data["title"])
    fig.text(
        0.01,
        1 - 0.6 / (height + 2),
        f"{title}  (rollout {values['rollout']}, signal {values['signal']})",
        fontsize=13,
        fontweight="bold",
        parse_math=False,
    )
    marks = decision_times(prom, data, values, end)
    reports = []
    for panel in panels:
        g = panel["gridPos"]
        # room for tick labels left and below, the title above (fractions of the figure)
        left, width = g["x"] / 24 + 0.035, g["w"] / 24 - 0.045
        bottom = 1 - (g["y"] + g["h"] + 1.3) / (height + 2)
        box = (left, bottom, width, (g["h"] - 1.6) / (height + 2))
        if panel["type"] == "row":
            fig.text(
                left,
                1 - (g["y"] + 1.9) / (height + 2),
                str(panel["title"]),
                fontsize=10,
                fontweight="bold",
                color="#374151",
                parse_math=False,
            )
            continue
        content = panel_data(prom, panel, values, start=start, end=end)
        ax = fig.add_axes(box)
        label = str(panel["title"]).replace("$signal", values["signal"])
        if panel.get("repeat"):
            label += f"  (one per ${panel['repeat']})"
        ax.set_title(label, fontsize=8, loc="left", pad=3)
        if panel["type"] in ("timeseries", "state-timeline"):
            _timeseries(ax, content, marks, stepped=panel["type"] == "state-timeline")
        elif panel["type"] == "stat":
            _stat(ax, content)
        else:
            _table(ax, content)
        reports.append(PanelReport(title, label, panel["type"], len(content.series)))
    fig.savefig(path, dpi=100, metadata={"Software": None})
    return reports


def write_previews(
    prom: Prometheus,
    out_dir: Path,
    *,
    rollout: str | None = None,
    signal: str | None = None,
    range_s: float = 900.0,
    end: float | None = None,
) -> tuple[list[Path], list[PanelReport]]:
    """A PNG per dashboard with the data of the last ``range_s`` seconds up to ``end``."""
    from dashboards.prom import now

    out_dir.mkdir(parents=True, exist_ok=True)
    values = variables(prom, rollout, signal)
    stop = now() if end is None else end
    paths, reports = [], []
    for name, payload in render.render_all().items():
        path = out_dir / name.replace(".json", ".png")
        reports += draw(prom, json.loads(payload), path, values, stop - range_s, stop)
        paths.append(path)
    return paths, reports
