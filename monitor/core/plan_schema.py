"""The JSON Schema of plan and rule files, built from :mod:`monitor.core.planspec`.

The same field tables drive ``rollguard check``, so the two agree on types, bounds, choices,
defaults, required and unknown fields, and on the conditions between fields a schema can
state (a threshold kind's own fields, a CUSUM's required ``shift`` and ``h``, the rate
signals a sequential test or a burn rate needs, ...). What no JSON Schema can see is left to
``rollguard check`` and named in the schema's description: references across files (rule
sets by name), unique names, windows that are multiples of the plan's resolution, ``cap >=
h``, a CUSUM's ``shift`` against its reference rate, ``short`` shorter than ``long``.

Draft-07, the dialect YAML editors support best (yaml-language-server, JetBrains). Written
to ``monitor/schemas/plan-file.schema.json`` by ``rollguard schema --out`` (a test keeps the
published file in step with the tables).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from monitor.core import signals
from monitor.core.planspec import (
    DURATION_PATTERN,
    FILE,
    HOURS_PATTERN,
    KINDS,
    NAME_PATTERN,
    OPS,
    PLAN,
    RULE,
    STAGE,
    THRESHOLD,
    THRESHOLD_COMMON,
    Spec,
    signal_names,
)

PUBLISHED: Final = Path(__file__).resolve().parent.parent / "schemas" / "plan-file.schema.json"
CHECK_ONLY: Final = (
    "rule sets named by plans and stages exist (in any file checked together)",
    "rule, rule set, plan and stage names are unique; a stage's rule sets do not define two "
    "different rules of one name",
    "window and eval_interval are multiples of the plan's resolution",
    "a cusum's cap is >= h, and its shift keeps the alternative rate below 1",
    "a burn rate's short window is shorter than its long window",
)
_POSITIVE_DURATION: Final = r"^\s*(?=[0-9.]*[1-9])\d+(?:\.\d+)?\s*(ms|s|m|h|d)\s*$"
_ZERO_DURATION: Final = r"^\s*0+(?:\.0+)?\s*(ms|s|m|h|d)\s*$"


def _field(spec: Spec) -> dict[str, Any]:
    out: dict[str, Any]
    if spec.kind == "duration":
        kind = "positive_duration" if spec.positive else "duration"
        out = {"allOf": [{"$ref": f"#/definitions/{kind}"}]}
    elif spec.kind == "number":
        out = {"type": "number"}
        if spec.lo is not None:
            out["minimum"] = spec.lo
        if spec.hi is not None:
            out["maximum"] = spec.hi
    elif spec.kind == "integer":
        out = {"type": "integer", "minimum": 0 if spec.lo is None else spec.lo}
        if spec.hi is not None:
            out["maximum"] = spec.hi
    elif spec.kind == "boolean":
        out = {"type": "boolean"}
    elif spec.kind == "choice":
        out = {"enum": list(spec.choices)}
    elif spec.kind == "text":
        out = {"type": "string"}
    elif spec.kind == "name":
        out = {"allOf": [{"$ref": "#/definitions/name"}]}
    elif spec.kind == "names":
        out = {"type": "array", "items": {"type": "string"}}
    elif spec.kind == "segment":
        out = {"allOf": [{"$ref": "#/definitions/segment"}]}
    elif spec.kind == "per_segment":
        out = {
            "anyOf": [
                {"type": "boolean"},
                {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
            ]
        }
    elif spec.kind == "hours":
        out = {"type": "string", "pattern": HOURS_PATTERN}
    elif spec.kind == "signal":
        out = {"allOf": [{"$ref": "#/definitions/signal"}]}
    else:  # mapping, list: described where they are used
        out = {}
    default = "" if spec.default in (None, "") else f" Default: {spec.default}."
    out["description"] = spec.doc + default
    return out


def _object(fields: dict[str, Spec], **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "object",
        "properties": {name: _field(spec) for name, spec in fields.items()},
        "additionalProperties": False,
    }
    required = [name for name, spec in fields.items() if spec.required]
    if required:
        out["required"] = required
    return out | extra


def _when(condition: dict[str, Any], then: dict[str, Any]) -> dict[str, Any]:
    return {"if": condition, "then": then}


def _prop(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A condition on one property that holds when the property is present."""
    return {"properties": {name: schema}, "required": [name]}


def _th(**equal: str) -> dict[str, Any]:
    """A condition on a rule: its threshold has these fields with these values."""
    return _prop("threshold", {"allOf": [_prop(k, {"const": v}) for k, v in equal.items()]})


def _threshold() -> dict[str, Any]:
    cusum = _prop("method", {"const": "cusum"})
    needs_cusum = {
        "required": ["shift", "h"],
        "properties": {
            "shift": {"exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "h": {"exclusiveMinimum": 0},
        },
    }
    per_kind = [
        _when(
            _prop("kind", {"const": kind}),
            _object({**THRESHOLD_COMMON, **fields}),
        )
        for kind, fields in THRESHOLD.items()
    ]
    return {
        "type": "object",
        "required": ["kind"],
        "properties": {"kind": {"enum": list(KINDS)}, "op": {"enum": list(OPS)}},
        "allOf": [
            *per_kind,
            _when(cusum, needs_cusum),
            _when(
                {"allOf": [_prop("kind", {"const": "absolute"}), cusum]},
                {"properties": {"value": {"exclusiveMinimum": 0, "exclusiveMaximum": 1}}},
            ),
            _when(
                _prop("method", {"enum": ["ratio", "difference"]}),
                {"required": ["value"]},
            ),
            _when(
                {"allOf": [_prop("kind", {"const": "vs_baseline"}), cusum]},
                {"properties": {"op": {"enum": [">", ">="]}}},
            ),
            _when(
                _prop("method", {"const": "slowdown"}),
                {
                    "required": ["h"],
                    "properties": {
                        "h": {"exclusiveMinimum": 0},
                        "ratio": {"exclusiveMinimum": 1},
                        "op": {"enum": [">", ">="]},
                    },
                },
            ),
        ],
    }


def _rule() -> dict[str, Any]:
    rates = {"enum": sorted(signals.RATES)}
    quantiles = {"enum": sorted(signals.QUANTILES)}
    nonzero = {"not": {"anyOf": [{"const": 0}, {"type": "string", "pattern": _ZERO_DURATION}]}}
    per_segment_on = _prop("per_segment", {"not": {"const": False}})
    rule = _object(
        RULE,
        allOf=[
            _when(
                {"anyOf": [_th(kind="burn_rate"), _th(method="sequential")]},
                {"properties": {"signal": rates}},
            ),
            _when(
                _th(kind="vs_baseline", method="cusum"),
                {"properties": {"signal": {"anyOf": [rates, quantiles]}}},
            ),
            _when(_th(kind="absolute", method="cusum"), {"properties": {"signal": rates}}),
            _when(
                {"anyOf": [_th(method=m) for m in ("cusum", "cause_shift", "slowdown")]},
                {"properties": {"eval_interval": {"not": nonzero}}},
            ),
            _when(
                _th(method="cause_shift"),
                {
                    "properties": {
                        "signal": {"const": "reject_mix_divergence"},
                        "for": {"not": nonzero},
                        "keep_firing_for": {"not": nonzero},
                    }
                },
            ),
            _when(
                _th(method="slowdown"),
                {
                    "properties": {
                        "signal": {"enum": [*sorted(signals.QUANTILES), "latency_mean_ms"]}
                    }
                },
            ),
            _when(
                {"allOf": [_th(method="sequential"), {"not": _th(over="window")}]},
                {"properties": {"for": {"not": nonzero}, "keep_firing_for": {"not": nonzero}}},
            ),
            _when(
                _th(against="rest"),
                {"allOf": [per_segment_on, {"properties": {"signal": rates}}]},
            ),
            _when(
                _th(kind="vs_baseline"),
                {"properties": {"variant": {"enum": ["canary", "shadow"]}}},
            ),
            _when(
                _prop("signal", quantiles),
                {
                    "properties": {
                        "threshold": _when(
                            _prop("method", {"const": "cusum"}),
                            {"properties": {"value": {"exclusiveMinimum": 0}}},
                        )
                    }
                },
            ),
            {"not": {"allOf": [per_segment_on, {"required": ["segment"]}]}},
            _when(
                _prop("signal", {"enum": sorted(signals.GAUGE_SIGNALS - {"freshness_s"})}),
                {"not": {"anyOf": [per_segment_on, {"required": ["segment"]}]}},
            ),
        ],
    )
    rule["properties"]["threshold"]["allOf"] = [{"$ref": "#/definitions/threshold"}]
    return rule


def schema() -> dict[str, Any]:
    """The whole schema (draft-07) of a plan and rule file."""
    rule_sets = {
        "type": "object",
        "additionalProperties": {"type": "array", "items": {"$ref": "#/definitions/rule"}},
        "propertyNames": {"pattern": NAME_PATTERN},
    }
    plans = {
        "type": "object",
        "additionalProperties": {"$ref": "#/definitions/plan"},
        "propertyNames": {"pattern": NAME_PATTERN},
    }
    top = _object(FILE)
    top["properties"] |= {
        "version": _field(FILE["version"]) | {"const": 1},
        "rule_sets": _field(FILE["rule_sets"]) | rule_sets,
        "plans": _field(FILE["plans"]) | plans,
    }
    plan = _object(PLAN)
    plan["properties"]["stages"] |= {
        "type": "array",
        "minItems": 1,
        "items": {"$ref": "#/definitions/stage"},
    }
    stage = _object(
        STAGE,
        anyOf=[
            {"required": ["traffic_pct"]},
            {"required": ["segment"]},
            {"required": ["hours_utc"]},
        ],
    )
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "rollguard plan and rule file",
        "description": "Rollout plans (stages and how they are gated) and rule sets, in YAML. "
        "Also checked by `rollguard check`, which adds what a schema cannot see: "
        + "; ".join(CHECK_ONLY)
        + ".",
        **top,
        "definitions": {
            "plan": plan,
            "stage": stage,
            "rule": _rule(),
            "threshold": _threshold(),
            "name": {"type": "string", "pattern": NAME_PATTERN},
            "signal": {
                "anyOf": [
                    {"enum": signal_names()},
                    {"type": "string", "pattern": f"^{signals.METRIC_PREFIX}.+$"},
                ],
                "description": "A signal of the catalogue, or metric:<name> (a custom Metric).",
            },
            "segment": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": {"type": ["string", "integer"]},
            },
            "duration": {
                "anyOf": [
                    {"type": "number", "minimum": 0},
                    {"type": "string", "pattern": DURATION_PATTERN},
                ],
                "description": "250ms, 30s, 5m, 1h, 2d, or a number of seconds.",
            },
            "positive_duration": {
                "anyOf": [
                    {"type": "number", "exclusiveMinimum": 0},
                    {"type": "string", "pattern": _POSITIVE_DURATION},
                ],
                "description": "A duration above zero: 250ms, 30s, 5m, 1h, 2d, or seconds.",
            },
        },
    }


def render() -> bytes:
    import orjson

    return orjson.dumps(schema(), option=orjson.OPT_INDENT_2) + b"\n"
