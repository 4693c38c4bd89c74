"""Name-typed strings (ids, LPs, venues, symbols, segment keys, ...) that fail the Name
pattern, in every position the pattern applies: the verdict and reason the decoder gives, as
single messages, as batch items and through the worker's envelope path.

They pinned the verdicts of msgspec's own pattern check before names were checked after
decoding (:mod:`topics.names`, a set lookup per name instead of a regex call) and hold
unchanged since, but for one deliberate difference: of duplicate JSON keys only the value
kept is checked (the last test).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.worker.envelope import encode_envelope
from monitor.worker.take import take_all
from topics.codec import Decoder
from topics.deadletters import Source
from topics.names import _NAME_BYTES, names_proven

TS = 1_700_000_000.0
PATTERN = "^[A-Za-z0-9_.:/@+-]+$"
BAD_NAMES = ["has space", "tab\there", "é", "a,b", "x\n\n", "\n", "semi;colon", 'quote"d']

BASE: dict[str, Any] = {"v": 1, "rollout_id": "r1", "variant": "canary", "ts": TS}
VALID: dict[str, dict[str, Any]] = {
    "order": {"kind": "order", **BASE, "order_id": "o1", "status": "filled"},
    "metric": {"kind": "metric", **BASE, "name": "cpu", "value": 1.0},
    "shadow": {"kind": "shadow", **BASE, "corr_id": "c1", "route": "lp1", "outcome": "accept"},
    "status": {"kind": "status", **BASE, "object_id": "p1", "system": "crm", "state": "ok"},
    "plan": {"kind": "plan", **BASE, "action": "stage_changed", "stage": "s1", "plan": "p"},
    "signoff": {"kind": "signoff", **BASE, "stage": "s1", "role": "cto", "by": "Ada L."},
    "silence": {"kind": "silence", **BASE, "silent_s": 31.0},
}
NAME_FIELDS = [
    *((kind, "rollout_id") for kind in VALID),
    ("order", "lp"),
    ("order", "venue"),
    ("order", "symbol"),
    ("metric", "name"),
    ("shadow", "route"),
    ("status", "system"),
    ("plan", "stage"),
    ("plan", "plan"),
    ("signoff", "stage"),
    ("signoff", "role"),
]
POSITIONS = [*(f"{kind}.{name}" for kind, name in NAME_FIELDS), "order.segment key"]


def with_bad_name(position: str, bad: str) -> dict[str, Any]:
    kind, field = position.split(".")
    event = dict(VALID[kind])
    if field == "segment key":
        event["segment"] = {"region": "eu", bad: "x"}
    else:
        event[field] = bad
    return event


def where(position: str) -> str:
    field = position.split(".")[1]
    return "`key` in `$.segment`" if field == "segment key" else f"`$.{field}`"


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("bad", BAD_NAMES)
def test_a_bad_name_is_invalid_as_a_single_message(position: str, bad: str) -> None:
    data = orjson.dumps(with_bad_name(position, bad))
    out = Decoder().decode(data, Source("in", 1, 7))
    assert out.events == []
    assert [(d.reason, d.message, d.original) for d in out.dead] == [
        ("invalid", f"Expected `str` matching regex '{PATTERN}' - at {where(position)}", data)
    ]


@pytest.mark.parametrize("position", POSITIONS)
def test_a_bad_name_loses_only_its_event_of_a_batch(position: str) -> None:
    items = [VALID["metric"], with_bad_name(position, "has space"), VALID["order"]]
    out = Decoder().decode(orjson.dumps({"kind": "batch", "v": 1, "events": items}))
    assert [type(e).__name__ for e in out.events] == ["Metric", "Order"]
    assert [(d.reason, d.index) for d in out.dead] == [("invalid", 1)]
    assert where(position) in out.dead[0].message
    assert orjson.loads(out.dead[0].original) == items[1]


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("batched", [False, True])
def test_a_bad_name_loses_only_its_event_of_a_worker_envelope(position: str, batched: bool) -> None:
    bad = with_bad_name(position, "has space")
    rid = bad["rollout_id"]
    good = [dict(VALID["metric"], rollout_id=rid), dict(VALID["order"], rollout_id=rid)]
    raws = [orjson.dumps(e) for e in (good[0], bad, good[1])]
    data = encode_envelope(3, [10, 11, 12], raws, 0, rid, batched=batched)
    hwm: dict[str, dict[int, int]] = {}
    (out,) = take_all(data, hwm, Decoder(), "in")
    if position.endswith(".rollout_id"):  # the envelope's rid is the bad name
        assert out.events == []
        assert [(d.reason, d.offset) for d in out.dead] == [("invalid", 0)] * 3
        return
    assert [type(e).__name__ for e in out.events] == ["Metric", "Order"]
    assert [(d.reason, d.partition, d.offset, d.index) for d in out.dead] == [
        ("invalid", 3, 0, 11 if batched else None)
    ]
    assert where(position) in out.dead[0].message
    assert hwm == {rid: {3: 12}}


def test_segment_values_are_labels_not_names() -> None:
    event = dict(VALID["order"], segment={"region": "eu west (2)"})
    assert len(Decoder().decode(orjson.dumps(event)).events) == 1


def test_a_name_never_ends_in_a_newline() -> None:
    # JSON Schema's `$` (ECMA-262) matches only at the end: "lp1\n" is not a name, also here
    for field in ({"lp": "lp1\n"}, {"segment": {"region\n": "eu"}}, {"rollout_id": "r1\n"}):
        [dead] = Decoder().decode(orjson.dumps(dict(VALID["order"], **field))).dead
        assert dead.reason == "invalid" and "regex" in dead.message


def test_of_duplicate_keys_the_value_kept_is_the_one_checked() -> None:
    # msgspec keeps the last of duplicate keys; the event acted on has only valid names, and
    # the decoder and the worker's envelope path agree on it
    kept_bad = orjson.dumps(VALID["metric"]).replace(
        b'"rollout_id":"r1"', b'"rollout_id":"r1","rollout_id":"has space"'
    )
    overwritten_bad = orjson.dumps(VALID["metric"]).replace(
        b'"rollout_id":"r1"', b'"rollout_id":"has space","rollout_id":"r1"'
    )
    assert [d.reason for d in Decoder().decode(kept_bad).dead] == ["invalid"]
    assert [e.rollout_id for e in Decoder().decode(overwritten_bad).events] == ["r1"]
    (taken,) = take_all(encode_envelope(0, [1], [overwritten_bad], 0, "r1"), {}, Decoder(), "t")
    assert [e.rollout_id for e in taken.events] == ["r1"]
    data = orjson.dumps(dict(VALID["order"], segment={"region": "eu"})).replace(
        b'"segment":{', b'"segment":{"a b":"x"},"segment":{'
    )
    assert [e.segment for e in Decoder().decode(data).events] == [{"region": "eu"}]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"lp": "has space", "latency_ms": "fast"}, "wrong_type"),  # names are checked last
        ({"latency_ms": "fast", "lp": "has space"}, "wrong_type"),
        ({"lp": "has space", "qty": 1.0, "filled_qty": 2.0}, "absurd_value"),  # __post_init__
        ({"lp": "has space", "qty": 2.0, "filled_qty": 1.0}, "invalid"),
    ],
)
def test_any_other_fault_gives_the_reason_before_a_bad_name(
    fields: dict[str, Any], reason: str
) -> None:
    ordered = {k: v for k, v in VALID["order"].items() if k not in fields} | fields
    assert [d.reason for d in Decoder().decode(orjson.dumps(ordered)).dead] == [reason]


def test_the_byte_proof_knows_the_patterns_characters() -> None:
    assert set(_NAME_BYTES) == {b for b in range(128) if re.fullmatch(PATTERN, chr(b))}


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
NAME_TEXT = st.text(alphabet=_NAME_BYTES.decode(), min_size=1)


def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [*value, *(s for v in value.values() for s in strings_in(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


@given(JSON_VALUES, st.booleans())
def test_the_byte_proof_holds_only_when_every_string_is_a_name(value: Any, spaced: bool) -> None:
    data = json.dumps(value).encode() if spaced else orjson.dumps(value)
    if names_proven(data):  # an empty name is msgspec's to refuse (min_length=1)
        assert all(re.fullmatch(PATTERN, s) for s in strings_in(value) if s)


@given(
    st.recursive(
        st.none()
        | st.integers(-(2**63), 2**63 - 1)
        | st.floats(allow_nan=False, allow_infinity=False)
        | NAME_TEXT,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(NAME_TEXT, inner, max_size=4),
        max_leaves=12,
    )
)
def test_the_byte_proof_holds_for_compact_json_of_names(value: Any) -> None:
    assert names_proven(orjson.dumps(value))
