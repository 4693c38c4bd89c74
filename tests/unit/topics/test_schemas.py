"""The published JSON Schemas match the models, document every field, and agree with the
decoder on what is valid."""

from __future__ import annotations

from typing import Any

import jsonschema
import orjson
import pytest

from topics.codec import Decoder
from topics.schema_gen import SCHEMA_DIR, render, schemas


def test_published_schema_files_match_the_models() -> None:
    for name, schema in schemas().items():
        path = SCHEMA_DIR / name
        assert path.exists(), f"{path} missing: run `python -m topics.schema_gen`"
        assert path.read_bytes() == render(name, schema), (
            f"{path} drifted from the models: run `python -m topics.schema_gen` and commit"
        )


def _properties(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for model, definition in schema.get("$defs", {}).items():
        for field, spec in definition.get("properties", {}).items():
            found.append((model, field, spec))
    return found


def test_every_field_is_documented() -> None:
    undocumented = []
    for name, schema in schemas().items():
        for model, field, spec in _properties(schema):
            if field == "kind":
                continue  # the tag: its enum is the documentation
            options = spec.get("anyOf", [spec])
            if not any("description" in option for option in options) and "$ref" not in spec:
                undocumented.append(f"{name}:{model}.{field}")
    assert undocumented == []


@pytest.mark.parametrize("name", sorted(schemas()))
def test_schemas_are_valid_draft_2020_12(name: str) -> None:
    jsonschema.Draft202012Validator.check_schema(schemas()[name])


SAMPLES: list[tuple[dict[str, Any], bool]] = [
    (
        {
            "kind": "order",
            "v": 1,
            "rollout_id": "r1",
            "variant": "canary",
            "ts": 1.7e9,
            "order_id": "o1",
            "status": "rejected",
            "reject_reason": "no_liquidity",
        },
        True,
    ),
    (
        {
            "kind": "metric",
            "v": 1,
            "rollout_id": "r1",
            "variant": "baseline",
            "ts": 1.7e9,
            "name": "cpu",
            "value": 3.0,
        },
        True,
    ),
    (
        {
            "kind": "order",
            "v": 1,
            "rollout_id": "r1",
            "variant": "green",
            "ts": 1.7e9,
            "order_id": "o1",
            "status": "filled",
        },
        False,
    ),
    (
        {
            "kind": "order",
            "v": 1,
            "rollout_id": "r1",
            "variant": "canary",
            "ts": 1.7e9,
            "order_id": "o1",
            "status": "filled",
            "latency_ms": -4,
        },
        False,
    ),
    (
        {
            "kind": "metric",
            "v": 1,
            "rollout_id": "r1",
            "variant": "canary",
            "name": "x",
            "value": 1.0,
        },
        False,
    ),
]


@pytest.mark.parametrize(("sample", "valid"), SAMPLES)
def test_schema_and_decoder_agree(sample: dict[str, Any], valid: bool) -> None:
    validator = jsonschema.Draft202012Validator(schemas()["event.schema.json"])
    assert validator.is_valid(sample) is valid
    out = Decoder().decode(orjson.dumps(sample))
    assert (len(out.events) == 1) is valid
