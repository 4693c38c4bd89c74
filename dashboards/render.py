"""Render the dashboards to JSON: deterministic bytes, committed under ``generated/``.

Determinism: builders take no clock or randomness; panel ids are assigned in layout order;
keys are sorted; the file ends with one newline. ``rollguard dashboards render --check``
fails when the committed JSON is stale.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final, NamedTuple

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards import detail, fleet, overview

GENERATED: Final = Path(__file__).resolve().parent / "generated"

DASHBOARDS: Final[dict[str, Callable[[], db.Dashboard]]] = {
    "rollouts-overview.json": overview.build,
    "rollout-detail.json": detail.build,
    "fleet-health.json": fleet.build,
}


def to_dict(builder: db.Dashboard) -> dict[str, Any]:
    """The dashboard model as plain JSON data, panel ids numbered in layout order."""
    data: dict[str, Any] = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    next_id = 1
    for panel in data.get("panels", []):
        panel["id"] = next_id
        next_id += 1
        for inner in panel.get("panels", []):
            inner["id"] = next_id
            next_id += 1
    return data


def encode(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def render_all() -> dict[str, bytes]:
    """File name → JSON bytes of every dashboard."""
    return {name: encode(to_dict(build())) for name, build in DASHBOARDS.items()}


def write(out_dir: Path = GENERATED) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, payload in render_all().items():
        path = out_dir / name
        path.write_bytes(payload)
        written.append(path)
    return written


def stale(out_dir: Path = GENERATED) -> list[str]:
    """Names of the files under ``out_dir`` that differ from a fresh render."""
    return [
        name
        for name, payload in render_all().items()
        if not (out_dir / name).is_file() or (out_dir / name).read_bytes() != payload
    ]


class PanelQuery(NamedTuple):
    dashboard: str
    panel: str
    ref: str
    expr: str
    instant: bool


def queries(data: dict[str, Any]) -> Iterator[PanelQuery]:
    """Every PromQL expression of a rendered dashboard: panel targets, then annotations."""
    title = str(data.get("title", ""))
    for panel in iter_panels(data):
        for target in panel.get("targets") or []:
            if target.get("expr"):
                yield PanelQuery(
                    title,
                    str(panel.get("title")),
                    str(target.get("refId")),
                    str(target["expr"]),
                    bool(target.get("instant")),
                )
    for ann in (data.get("annotations") or {}).get("list", []):
        if ann.get("expr"):
            yield PanelQuery(title, f"annotation: {ann['name']}", "", str(ann["expr"]), False)


def iter_panels(data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel of a rendered dashboard, rows and the panels inside collapsed rows too."""
    for panel in data.get("panels") or []:
        yield panel
        yield from panel.get("panels") or []


GRAFANA_INTERVALS: Final = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h"}
"""What Grafana substitutes for its built-in interval variables (typical values)."""


def expand(expr: str, variables: dict[str, str]) -> str:
    """``expr`` with Grafana's ``$name`` / ``${name}`` variables replaced, as Grafana would.

    >>> expand('rate(x{rollout="$rollout"}[$__rate_interval])', {"rollout": "r1"})
    'rate(x{rollout="r1"}[1m])'
    """
    values = {**GRAFANA_INTERVALS, **variables}
    for name in sorted(values, key=len, reverse=True):  # $__range before $__r..., longest first
        expr = expr.replace("${" + name + "}", values[name]).replace("$" + name, values[name])
    return expr
