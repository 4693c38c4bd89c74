"""A screenshot-like PNG of each dashboard's panel layout (no Grafana needed).

Draws the 24-column grid from the rendered JSON: rows as bands, panels as boxes with their
title, type and first query. For reviewing a layout change in a pull request; not a
rendering of data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend
from matplotlib.patches import Rectangle

from dashboards import render

COLOURS = {
    "row": "#d0d4dc",
    "stat": "#cfe8cf",
    "table": "#f3e1c7",
    "timeseries": "#cfe0f3",
    "state-timeline": "#ecd0ec",
}
UNIT_PX = 40  # one grid unit (Grafana: 1/24 of the width, 30 px high)


def draw(data: dict[str, Any], path: Path) -> None:
    panels = [*render.iter_panels(data)]
    height = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    fig = Figure(figsize=(24 * UNIT_PX / 100, (height + 2) * UNIT_PX * 0.6 / 100))
    ax = fig.subplots()
    ax.set_xlim(0, 24)
    ax.set_ylim(height, -1.5)
    ax.axis("off")
    ax.text(
        0, -0.8, str(data["title"]), fontsize=14, fontweight="bold", va="center", parse_math=False
    )
    for p in panels:
        g = p["gridPos"]
        colour = COLOURS.get(p["type"], "#eeeeee")
        ax.add_patch(
            Rectangle(
                (g["x"] + 0.1, g["y"] + 0.1),
                g["w"] - 0.2,
                g["h"] - 0.2,
                facecolor=colour,
                edgecolor="#555555",
                linewidth=0.8,
            )
        )
        width = int(g["w"] * 5.2) - 1  # 7 pt monospace characters that fit the box
        title = _cut(str(p["title"]), width)
        label = title if p["type"] == "row" else f"{title}\n[{p['type']}]"
        if p.get("repeat"):
            label += f" repeated per ${p['repeat']}"
        for target in (p.get("targets") or [])[: max(0, g["h"] // 2 - 1)]:
            expr = str(target.get("expr", ""))
            label += "\n" + _cut(expr, width)
        ax.text(
            g["x"] + 0.3,
            g["y"] + 0.55,
            label,
            fontsize=7,
            va="top",
            family="monospace",
            parse_math=False,
        )
    fig.savefig(path, dpi=100, metadata={"Software": None})


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def write_previews(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, payload in render.render_all().items():
        path = out_dir / name.replace(".json", ".png")
        draw(json.loads(payload), path)
        paths.append(path)
    return paths
