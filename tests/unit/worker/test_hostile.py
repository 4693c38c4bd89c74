"""Hostile telemetry through the ingest and the processor: no crash, no stuck loop, every bad
message in the DLQ with its reason and offset, and the good ones beside it decided exactly as
the core decides them alone.

Each example mixes valid error-rate metrics (some above the threshold core's limit, so there
are decisions to compare) with messages an attacker or a broken producer could send: deep
nesting, huge integers, floats out of range, NaN/Infinity literals, duplicate keys, invalid
UTF-8, 10 MB values, control characters in ids, future and ancient timestamps.
"""

from __future__ import annotations

import asyncio
import time

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.worker.threshold_core import ThresholdCore
from tests.unit.worker.pipeline import Pipeline
from topics.codec import encode_batch, encode_event
from topics.deadletters import DLQ_REASONS
from topics.events import Metric

NOW = time.time()
T0 = NOW - 3_600.0  # good events an hour old: any age is fine by default


def good(i: int, value: float, rollout: str = "r1") -> Metric:
    return Metric(
        v=1, rollout_id=rollout, variant="canary", ts=T0 + i, name="error_rate", value=value
    )


def metric_json(**fields: object) -> bytes:
    base = {"kind": "metric", "v": 1, "rollout_id": "r1", "variant": "canary"}
    return orjson.dumps({**base, "ts": T0, "name": "error_rate", "value": 0.5, **fields})


def nested(depth: int) -> bytes:
    return metric_json().replace(
        b'"value":0.5', b'"x":' + b"[" * depth + b"]" * depth + b',"value":0.5'
    )


HOSTILE: dict[str, st.SearchStrategy[bytes]] = {
    "deep nesting": st.integers(40, 5_000).map(nested),
    "deep nesting, whole": st.integers(40, 5_000).map(lambda d: b"[" * d + b"]" * d),
    "huge integer": st.integers(10**16, 10**400).map(
        lambda n: metric_json().replace(b"0.5", str(n).encode())
    ),
    "float out of range": st.sampled_from([b"1e309", b"-1e400", b"1e16", b"2.5e15"]).map(
        lambda f: metric_json().replace(b"0.5", f)
    ),
    "NaN/Infinity literal": st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"nan"]).map(
        lambda f: metric_json().replace(b"0.5", f)
    ),
    "duplicate keys, last bad": st.sampled_from([b"r 1", b"r1\\n", b""]).map(
        lambda bad: metric_json().replace(
            b'"rollout_id":"r1"', b'"rollout_id":"r1","rollout_id":"' + bad + b'"'
        )
    ),
    "invalid UTF-8": st.binary(min_size=1, max_size=8).map(
        lambda junk: metric_json().replace(
            b'"error_rate"', b'"err\xff\xfe' + junk.replace(b'"', b"") + b'"'
        )
    ),
    "10 MB value": st.just(metric_json(unit="x" * (10 << 20))),
    "control character in id": st.sampled_from(["\x00", "\n", "\x1b[2J", "\u2028", "\r"]).map(
        lambda c: metric_json(rollout_id=f"r{c}1")
    ),
    # a day ahead at least: NOW is taken at collection, and a long suite runs this test
    # more than 600 s later (an event "600 s ahead" was then in the past and applied)
    "future timestamp": st.floats(86_400.0, 1e9).map(
        lambda ahead: metric_json(ts=min(NOW + ahead, 4.1e9))
    ),
    "ancient timestamp": st.floats(-1e12, 9.4e8).map(lambda ts: metric_json(ts=ts)),
    "not JSON": st.binary(max_size=64).filter(lambda b: not b.strip().startswith((b"{", b"["))),
    "no value": st.just(None),
}


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[bytes | None], list[Metric], set[int]]:
    """Good metrics (one message each, or batches) with hostile messages between them."""
    values = draw(st.lists(st.sampled_from([0.01, 0.2]), min_size=4, max_size=40))
    events = [good(i, value) for i, value in enumerate(values)]
    messages: list[bytes | None] = []
    hostile: set[int] = set()
    i = 0
    while i < len(events):
        if draw(st.booleans()):
            kind = draw(st.sampled_from(sorted(HOSTILE)))
            hostile.add(len(messages))
            messages.append(draw(HOSTILE[kind]))
        size = draw(st.integers(1, 5))
        chunk = events[i : i + size]
        messages.append(encode_event(chunk[0]) if size == 1 else encode_batch(chunk))
        i += len(chunk)
    return messages, events, hostile


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(streams())
def test_hostile_messages_go_to_the_dlq_and_the_good_ones_decide_as_alone(
    stream: tuple[list[bytes | None], list[Metric], set[int]],
) -> None:
    messages, events, hostile = stream
    pipeline = Pipeline(ThresholdCore())
    out = asyncio.run(pipeline.feed(messages))

    expected = ThresholdCore().process(events)
    assert [c.command_id for c in out.commands] == [c.command_id for c in expected]
    assert [c.reason for c in out.commands] == [c.reason for c in expected]  # names the count
    assert pipeline.processor.applied == len(events)
    by_offset = {d.offset: d for d in out.dead}
    assert set(by_offset) == hostile, "each hostile message dead-lettered once, nothing else"
    assert len(out.dead) == len(hostile)
    for offset, dead in by_offset.items():
        assert dead.reason in DLQ_REASONS and dead.reason != "internal_error", dead
        assert (
            dead.topic == "tel" and dead.original == (messages[offset] or b"")[: len(dead.original)]
        )
    assert pipeline.ingest_consumer.committed[-1] == {pipeline_tp(): len(messages)}  # not stuck
    assert pipeline.ingest.progress.failures == 0


def pipeline_tp():  # type: ignore[no-untyped-def]
    from tests.unit.worker.pipeline import TELEMETRY

    return TELEMETRY


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=200),
            st.just(None),
            st.integers(40, 3_000).map(lambda d: b"[" * d + b"]" * d),
            st.integers(40, 3_000).map(
                lambda d: b'{"src":0,"rid":"r1","events":' + b"[" * d + b"]" * d + b"}"
            ),
            st.just(b'{"src":0,"rid":"r1","offsets":[1,1],"events":[{},{}]}'),
            st.just(b'{"src":0,"rid":"r1","first":-5,"batched":true,"batch":{"v":1,"events":[]}}'),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_by_rollout_records_no_ingest_wrote_go_to_the_dlq(values: list[bytes | None]) -> None:
    """The processor trusts nothing on its own topic: each record it cannot take is one dead
    letter of a bounded reason, and the loop goes on."""
    pipeline = Pipeline(ThresholdCore())

    async def go() -> list[str]:
        await pipeline.by_rollout(values)
        return [orjson.loads(value)["reason"] for _, value in pipeline.broker.take("dlq") if value]

    reasons = asyncio.run(go())
    assert len(reasons) <= len(values)
    assert set(reasons) <= {"invalid", "too_deep", "missing_field", "wrong_type", "not_json"}
    assert pipeline.processor.owned[0].next_offset == len(values)
