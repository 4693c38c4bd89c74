"""What each dashboard panel would show, read from a Prometheus over its HTTP API.

Grafana's variables are resolved as Grafana would resolve them (the first rollout of
``label_values(rollguard_rollout_info, rollout)``, "All" segments, the first signal of a
repeated panel), each target is sent to ``/api/v1/query_range`` (or ``/api/v1/query`` for
instant targets) and the legend formats are filled from the series' labels. Standard
library HTTP only.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Final

from dashboards import render
from dashboards.detail import WHOLE_ROLLOUT

_LEGEND: Final = re.compile(r"\{\{\s*(\w+)\s*\}\}")


class PrometheusError(Exception):
    """Prometheus could not be asked, or refused a query (the message says which)."""


@dataclass
class Series:
    """One series of one panel target: its legend and (unix time, value) points."""

    legend: str
    labels: dict[str, str]
    points: list[tuple[float, float]]
    named: bool = False
    """The legend comes from the target's legendFormat (a stat then shows it as text)."""


@dataclass
class PanelData:
    title: str
    type: str
    unit: str
    series: list[Series] = field(default_factory=list)


class Prometheus:
    """A Prometheus HTTP API at ``url`` (e.g. ``http://localhost:9090``)."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def get(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(
                f"{self.url}{path}?{query}", timeout=self.timeout_s
            ) as response:
                reply = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")[:300]
            raise PrometheusError(f"{self.url}{path}: HTTP {exc.code}: {body}") from exc
        except (OSError, ValueError) as exc:
            raise PrometheusError(f"cannot query Prometheus at {self.url}: {exc}") from exc
        if reply.get("status") != "success":
            raise PrometheusError(f"{self.url}{path}: {reply.get('error', reply)}")
        return reply["data"]

    def label_values(self, label: str, match: str) -> list[str]:
        values: list[str] = self.get(f"/api/v1/label/{label}/values", **{"match[]": match})
        return sorted(values)


def variables(
    prom: Prometheus, rollout: str | None = None, signal: str | None = None
) -> dict[str, str]:
    """The dashboard variables as Grafana would start with them (or as chosen)."""
    rollouts = prom.label_values("rollout", "rollguard_rollout_info")
    chosen = rollout or (rollouts[0] if rollouts else "")
    signals = prom.label_values("signal", f'rollguard_signal{{rollout="{chosen}"}}')
    return {
        "rollout": chosen,
        "segment": WHOLE_ROLLOUT,
        "signal": signal or (signals[0] if signals else ""),
        "datasource": "prometheus",
    }


def _legend(fmt: str | None, labels: dict[str, str], expr: str) -> str:
    if fmt:
        return _LEGEND.sub(lambda m: labels.get(m.group(1), ""), fmt).strip()
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    return ", ".join(f"{k}={v}" for k, v in sorted(shown.items())) or expr[:40]


def panel_data(
    prom: Prometheus,
    panel: dict[str, Any],
    values: dict[str, str],
    *,
    start: float,
    end: float,
) -> PanelData:
    """The series a panel's targets return over [start, end] (instant targets: at end)."""
    unit = str(((panel.get("fieldConfig") or {}).get("defaults") or {}).get("unit") or "")
    out = PanelData(str(panel.get("title", "")), str(panel["type"]), unit)
    step = max(1.0, (end - start) / 240)
    for target in panel.get("targets") or []:
        expr = render.expand(str(target.get("expr", "")), values)
        if not expr:
            continue
        if target.get("instant"):
            data = prom.get("/api/v1/query", query=expr, time=f"{end:.3f}")
            rows = (
                [(r["metric"], [r["value"]]) for r in data["result"]]
                if isinstance(data["result"], list)
                else [({}, [data["result"]])]
            )
        else:
            data = prom.get(
                "/api/v1/query_range",
                query=expr,
                start=f"{start:.3f}",
                end=f"{end:.3f}",
                step=f"{step:g}",
            )
            rows = [(r["metric"], r["values"]) for r in data["result"]]
        for labels, points in rows:
            parsed = [(float(t), float(v)) for t, v in points]
            fmt = target.get("legendFormat")
            out.series.append(Series(_legend(fmt, labels, expr), labels, parsed, bool(fmt)))
    return out


def decision_times(
    prom: Prometheus, data: dict[str, Any], values: dict[str, str], end: float
) -> list[tuple[float, str]]:
    """(time, "ACTION rollout") of the decisions the dashboard's metric annotation marks."""
    marks = []
    for ann in (data.get("annotations") or {}).get("list", []):
        if not ann.get("expr"):
            continue
        result = prom.get(
            "/api/v1/query", query=render.expand(str(ann["expr"]), values), time=f"{end:.3f}"
        )["result"]
        for r in result:
            when = float(r["value"][1]) / (1000.0 if float(r["value"][1]) > 1e11 else 1.0)
            labels = r["metric"]
            marks.append((when, f"{labels.get('action', '').upper()} {labels.get('rollout', '')}"))
    return sorted(set(marks))


def now() -> float:
    """Wall-clock end of the preview's range (Prometheus stores scrape times)."""
    return time.time()
