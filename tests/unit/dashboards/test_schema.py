"""The dashboard JSON is valid for Grafana's dashboard schema, checked with Grafana's own types.

grafana-foundation-sdk's models are generated from Grafana's dashboard schema (CUE kinds,
schemaVersion 36, ``models/dashboard.py``) and the panel plugins' option schemas. Each
rendered file is decoded with ``Dashboard.from_json`` — panel options and field config with
the typed model registered for the panel type, targets with the Prometheus query model —
and encoded again: a key the schema does not know is dropped by the decoder, so an unequal
round trip names it. The only keys allowed through are the Prometheus annotation keys that
Grafana's open ``AnnotationQuery`` carries but the SDK does not model
(``dashboards.annotations.PROM_ANNOTATION_KEYS``). On top: the properties the schema marks
required (Grafana docs, "Dashboard kind" schema reference), unique panel ids, a 24-column
grid without overlaps, and every query on the ``${datasource}`` variable.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

from dashboards import render
from dashboards.annotations import PROM_ANNOTATION_KEYS

RENDERED = {name: json.loads(payload) for name, payload in render.render_all().items()}
REQUIRED = ("editable", "graphTooltip", "schemaVersion", "title", "uid", "time", "panels")


def _round_trip(data: dict[str, Any]) -> dict[str, Any]:
    register_default_plugins()
    model = dm.Dashboard.from_json(copy.deepcopy(data))
    out: dict[str, Any] = json.loads(json.dumps(model, cls=JSONEncoder))
    return out


def _strip_prom_annotation_keys(data: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    for ann in data["annotations"].get("list", []):
        for key in PROM_ANNOTATION_KEYS:
            ann.pop(key, None)
    return data


def _panels(data: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in data["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_round_trips_through_grafana_types(name: str) -> None:
    data = RENDERED[name]
    assert _round_trip(data) == _strip_prom_annotation_keys(data)


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_panels_and_targets_decode_to_typed_models(name: str) -> None:
    register_default_plugins()
    model = dm.Dashboard.from_json(copy.deepcopy(RENDERED[name]))
    for panel in model.panels or []:
        if isinstance(panel, dm.RowPanel):
            continue
        assert cogruntime.panelcfg_config(panel.type_val) is not None, panel.type_val
        module = type(panel.options).__module__
        assert module.endswith(panel.type_val.replace("-", "")), panel.title
        for target in panel.targets or []:
            assert isinstance(target, pm.Dataquery), (panel.title, target)


def test_round_trip_catches_an_unknown_key() -> None:
    """The check above can fail: a misspelt option is dropped by the typed decoder."""
    data = copy.deepcopy(RENDERED["fleet-health.json"])
    data["panels"][0]["options"]["colourMode"] = "value"
    assert _round_trip(data) != _strip_prom_annotation_keys(data)


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_structure(name: str) -> None:
    data = RENDERED[name]
    for key in REQUIRED:
        assert key in data, key
    assert data["schemaVersion"] == 36
    assert 8 <= len(data["uid"]) <= 40
    panels = _panels(data)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)) and all(i > 0 for i in ids)
    cells: set[tuple[int, int]] = set()
    for p in panels:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        area = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not area & cells, f"{p['title']} overlaps another panel"
        cells |= area
        if p["type"] != "row":
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
            assert p["targets"], p["title"]
            refs = [t["refId"] for t in p["targets"]]
            assert len(set(refs)) == len(refs) and all(refs), p["title"]
    variables = {v["name"]: v for v in data["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"


def test_detail_links_and_variables() -> None:
    detail = RENDERED["rollout-detail.json"]
    names = [v["name"] for v in detail["templating"]["list"]]
    assert names == ["datasource", "rollout", "segment", "signal"]
    repeated = [p for p in _panels(detail) if p.get("repeat") == "signal"]
    assert len(repeated) == 1
    overview = json.dumps(RENDERED["rollouts-overview.json"])
    assert "/d/rollguard-rollout-detail/rollout-detail?var-rollout=${__value.raw}" in overview
