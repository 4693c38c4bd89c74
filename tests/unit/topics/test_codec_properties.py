"""Property tests: whatever bytes arrive, the decoder accounts for each input exactly once."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from topics.codec import Decoder
from topics.deadletters import DLQ_REASONS, Source
from topics.events import SCHEMA_VERSION

# generation is slow on a loaded 2-core machine; the checks themselves are fast
SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]
DECODER = Decoder(max_message_bytes=64_000, max_batch_events=50)

VALID: list[dict[str, Any]] = [
    {
        "kind": "order",
        "v": 1,
        "rollout_id": "r1",
        "variant": "canary",
        "ts": 1.7e9,
        "order_id": "o1",
        "status": "partially_filled",
        "latency_ms": 3.5,
        "qty": 5,
        "filled_qty": 2,
        "pnl_minor": -120,
        "currency": "USD",
        "lp": "lp-a",
    },
    {
        "kind": "metric",
        "v": 1,
        "rollout_id": "r2",
        "variant": "baseline",
        "ts": 1.7e9 + 5,
        "name": "cpu_pct",
        "value": 12.0,
        "segment": {"region": "eu"},
    },
    {
        "kind": "shadow",
        "v": 1,
        "rollout_id": "r1",
        "variant": "shadow",
        "ts": 1.7e9,
        "corr_id": "c-9",
        "route": "lp-b",
        "outcome": "accept",
        "price": 1.0842,
    },
    {
        "kind": "status",
        "v": 1,
        "rollout_id": "r1",
        "variant": "baseline",
        "ts": 1.7e9,
        "object_id": "pay-1",
        "system": "payments",
        "state": "confirmed",
    },
    {
        "kind": "plan",
        "v": 1,
        "rollout_id": "r1",
        "variant": "canary",
        "ts": 1.7e9,
        "action": "traffic_share",
        "traffic_pct": 20,
    },
    {
        "kind": "signoff",
        "v": 1,
        "rollout_id": "r1",
        "variant": "canary",
        "ts": 1.7e9,
        "stage": "pct-50",
        "role": "cto",
        "by": "Ada L.",
    },
    {
        "kind": "silence",
        "v": 1,
        "rollout_id": "r1",
        "variant": "canary",
        "ts": 1.7e9,
        "silent_s": 31.0,
    },
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mutated_event(draw: st.DrawFn) -> dict[str, Any]:
    event = dict(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["delete", "replace", "add"]))
        key = draw(st.sampled_from([*sorted(event), "extra", "kind", "v", "ts"]))
        if op == "delete":
            event.pop(key, None)
        else:
            event[key] = draw(json_values)
    return event


def dumps(value: Any) -> bytes:
    """stdlib json: unlike orjson it also writes integers beyond 64 bits (valid JSON)."""
    return json.dumps(value).encode()


def assert_accounted(out: Any, expected_inputs: int | None) -> None:
    total = len(out.events) + len(out.dead)
    if expected_inputs is None:
        assert total >= 1
    else:
        assert total == expected_inputs
    for dead in out.dead:
        assert dead.reason in DLQ_REASONS
        assert dead.message
    for event in out.events:
        assert event.v == SCHEMA_VERSION


@settings(max_examples=400, suppress_health_check=SLOW_OK)
@given(st.binary(max_size=2_000))
def test_arbitrary_bytes_never_raise_and_are_one_dead_letter_or_valid(data: bytes) -> None:
    out = DECODER.decode(data, Source("t", 0, 1))
    assert_accounted(out, None)
    if out.dead and out.dead[0].index is None:
        assert len(out.dead) == 1
        assert out.dead[0].original == data


@settings(max_examples=400, suppress_health_check=SLOW_OK)
@given(json_values)
def test_arbitrary_json_never_raises(value: Any) -> None:
    out = DECODER.decode(dumps(value))
    assert_accounted(out, None)


@settings(max_examples=500, suppress_health_check=SLOW_OK)
@given(mutated_event())
def test_mutated_single_events_are_valid_or_dead_exactly_once(event: dict[str, Any]) -> None:
    out = DECODER.decode(dumps(event))
    assert_accounted(out, 1)


@settings(max_examples=300, suppress_health_check=SLOW_OK)
@given(st.lists(mutated_event(), min_size=1, max_size=10))
def test_mutated_batches_account_for_every_event(events: list[dict[str, Any]]) -> None:
    out = DECODER.decode(dumps({"kind": "batch", "v": 1, "events": events}))
    assert_accounted(out, len(events))
    assert sorted(d.index for d in out.dead if d.index is not None) == sorted(
        {d.index for d in out.dead if d.index is not None}
    )


@settings(max_examples=200, suppress_health_check=SLOW_OK)
@given(st.lists(st.sampled_from(VALID), min_size=1, max_size=20))
def test_valid_batches_lose_nothing(events: list[dict[str, Any]]) -> None:
    out = DECODER.decode(orjson.dumps({"kind": "batch", "v": 1, "events": events}))
    assert out.dead == []
    assert [orjson.loads(orjson.dumps(e.__struct_config__.tag)) for e in out.events] == [
        e["kind"] for e in events
    ]


NAMES_ODD = st.sampled_from(["r1\n", "r 1", "", "r1\u2028", "é", "r" * 129, "\\u0041", "r1"])


@st.composite
def odd_names(draw: st.DrawFn) -> dict[str, Any]:
    """A mutated event whose name fields (rollout id, segment keys, lp) may be bad names."""
    event = draw(mutated_event())
    for key in draw(st.lists(st.sampled_from(["rollout_id", "lp", "route", "name"]))):
        event[key] = draw(NAMES_ODD)
    if draw(st.booleans()):
        event["segment"] = {draw(NAMES_ODD): "eu"}
    return event


@settings(max_examples=400, suppress_health_check=SLOW_OK)
@given(
    st.lists(odd_names(), min_size=1, max_size=6),
    st.booleans(),
    st.sampled_from([None, 1.7e9, 1.7e9 + 3, 1.7e9 - 3]),
)
def test_fast_path_agrees_with_the_full_path(
    events: list[dict[str, Any]], batched: bool, now: float | None
) -> None:
    """``Decoder.decode`` takes a one-pass path for bytes that decode cleanly; any other
    value (here a bytearray of the same bytes) always meets the full path. Both give the
    same events and the same dead letters, whatever the message holds."""
    data = dumps({"kind": "batch", "v": 1, "events": events} if batched else events[0])
    source = Source("t", 0, 7)
    fast = DECODER.decode(data, source, now)
    full = DECODER.decode(bytearray(data), source, now)
    assert fast.events == full.events
    assert fast.dead == full.dead
    again = DECODER.decode(data, source, now)  # names found valid meanwhile: fast path
    assert (again.events, again.dead) == (full.events, full.dead)
