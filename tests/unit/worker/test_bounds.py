"""Bounded state whatever producers invent: rollouts per worker, segments per rollout, series
on /metrics, unreadable checkpoint records, log volume."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time

import orjson

from monitor.core import Core, load_plans
from monitor.edge.logs import RateLimit
from monitor.worker.checkpoint import Checkpoint, _Scan
from monitor.worker.metrics import WorkerMetrics
from tests.integration.worker.support import PLANS
from tests.integration.worker.threshold_core import ThresholdCore
from tests.unit.worker.pipeline import Pipeline
from topics.codec import encode_batch, encode_event
from topics.events import Metric, Order

TS = time.time() - 600


def metric(rollout: str, i: int = 0) -> Metric:
    return Metric(
        v=1, rollout_id=rollout, variant="canary", ts=TS + i, name="error_rate", value=0.01
    )


def test_new_rollouts_past_the_cap_go_to_the_dlq_as_a_batch_that_can_be_sent_again() -> None:
    pipeline = Pipeline(ThresholdCore(), max_rollouts=3)

    async def go() -> None:
        first = await pipeline.feed([encode_event(metric(f"r{i}")) for i in range(5)])
        assert pipeline.processor.tracked_rollouts() == 3
        assert sorted(pipeline.core.rollouts()) == ["r0", "r1", "r2"]
        [dead] = first.dead
        assert dead.reason == "rollout_limit" and "3 rollouts (--max-rollouts)" in dead.message
        refused = orjson.loads(dead.original)
        assert refused["kind"] == "batch"  # a telemetry message, ready to be replayed
        assert [e["rollout_id"] for e in refused["events"]] == ["r3", "r4"]
        # known rollouts go on; new ones are judged again (and refused again) each time
        again = await pipeline.feed([encode_event(metric("r1", 1)), encode_event(metric("r9"))])
        assert [d.reason for d in again.dead] == ["rollout_limit"]
        assert pipeline.processor.applied == 4

    asyncio.run(go())
    assert pipeline.metrics.dlq.labels("rollout_limit")._value.get() == 3


def test_invented_segments_count_for_the_whole_rollout_past_the_cap() -> None:
    core = Core(
        load_plans([str(p) for p in PLANS]), default_plan="bridge-routing-v2", max_segments=4
    )
    events = [
        Order(
            v=1,
            rollout_id="r1",
            variant="canary",
            ts=TS + i * 0.01,
            order_id=f"o{i}",
            status="filled",
            latency_ms=5.0,
            segment={"region": f"invented-{i}"},
        )
        for i in range(50)
    ]
    core.process(events)
    rollout = core._rollouts["r1"]
    segments = {seg for _, seg in rollout.leaves if seg}
    assert len(segments) == 4
    assert core.counters()["segment_overflow"] == 46
    assert core.counters()["events"] == 50  # every one still counts for the rollout
    # the cap survives a checkpoint round trip
    restored = Core(load_plans([str(p) for p in PLANS]), max_segments=4)
    restored.import_state("r1", core.export_state("r1"))
    restored.process(
        [events[-1].__class__(**{**_fields(events[-1]), "order_id": "x", "ts": TS + 1})]
    )
    assert restored.counters()["segment_overflow"] == 47


def _fields(event: Order) -> dict[str, object]:
    return {f: getattr(event, f) for f in event.__struct_fields__}


def test_metrics_keep_to_the_series_budget_whole_rollouts_at_a_time() -> None:
    core = Core(load_plans([str(p) for p in PLANS]), default_plan="bridge-routing-v2")
    core.process([metric(f"r{i:03d}") for i in range(40)])
    metrics = WorkerMetrics("w", "t")
    metrics.attach_core(lambda: core, max_series=200)

    def rollouts_shown() -> set[str]:
        text = metrics.render().decode()
        return {
            line.split('rollout="')[1].split('"')[0]
            for line in text.splitlines()
            if line.startswith("rollguard_rule_state{")
        }

    shown = rollouts_shown()
    per_rollout = len([r for r in core.rule_states() if r.rollout_id == "r000"]) + 2
    assert len(shown) == 200 // per_rollout
    assert f"rollguard_rollouts_omitted {float(40 - len(shown))}" in metrics.render().decode()
    core.process([metric("a-new-one")])  # sorts first, yet the rollouts shown before stay
    assert rollouts_shown() == shown


def test_unreadable_state_records_are_skipped_and_counted() -> None:
    unusable: list[str] = []
    scan = _Scan(0, unusable.append)
    good = Checkpoint(0, 5, {"r1": {0: 3}}, {}).encode()
    marker = orjson.dumps({"prefix": "p", "chunks": 1, "sha256": hashlib.sha256(good).hexdigest()})
    for key, value in [
        (b"ckpt:0:p:0", good),
        (b"ckpt:0", b"[[[[not a marker"),
        (b"ckpt:0:p:not-an-int", b"x"),
        (b"ckpt:0", orjson.dumps({"prefix": 1})),
        (b"ckpt:0", marker),
    ]:
        scan.add(key, value)
    found = scan.result()
    assert found is not None and found[0].offset == 5
    assert unusable == ["record"] * 3

    forged = _Scan(0, unusable.append)
    blob = b"RGC2" + b"\x00\x00\x00\x05[[[[["
    sha = hashlib.sha256(blob).hexdigest()
    forged.add(b"ckpt:0:q:0", blob)
    forged.add(b"ckpt:0", orjson.dumps({"prefix": "q", "chunks": 1, "sha256": sha}))
    assert forged.result() is None  # replay the partition rather than stop restoring
    assert unusable[-1] == "checkpoint"


def test_a_flood_of_one_kind_of_log_record_is_cut_and_then_counted() -> None:
    clock = [0.0]
    limit = RateLimit(burst=3, window_s=10.0, clock=lambda: clock[0])

    def record(offset: int) -> logging.LogRecord:
        return logging.LogRecord("w", logging.ERROR, "", 0, "failed at %d", (offset,), None)

    passed = [limit.filter(record(i)) for i in range(1000)]
    assert passed.count(True) == 3
    other = logging.LogRecord("w", logging.ERROR, "", 0, "something else", (), None)
    assert limit.filter(other)
    clock[0] = 10.0
    summary = record(1000)
    assert limit.filter(summary)
    assert summary.getMessage() == "failed at 1000 [997 more like this were not logged]"


def test_dead_letters_name_their_reason_offset_and_bytes() -> None:
    pipeline = Pipeline(ThresholdCore())
    deep = b'{"kind":"metric","x":' + b"[" * 1000 + b"]" * 1000 + b"}"
    future = encode_event(
        Metric(v=1, rollout_id="r1", variant="canary", ts=time.time() + 60, name="x", value=1.0)
    )
    batch = encode_batch([metric("r1", 1), metric("r1\n", 2)])
    out = asyncio.run(pipeline.feed([deep, future, batch]))
    assert [(d.reason, d.offset, d.index) for d in out.dead] == [
        ("too_deep", 0, None),
        ("future_timestamp", 1, None),
        ("invalid", 2, 1),
    ]
    assert out.dead[0].original == deep
    assert "ahead of this worker's clock" in out.dead[1].message
    assert pipeline.processor.applied == 1


def test_a_batch_nested_too_deep_is_one_dead_letter_whole() -> None:
    """Its events cannot be told apart without parsing it, which is what the bound prevents;
    they travel in the dead letter's original bytes."""
    pipeline = Pipeline(ThresholdCore())
    deep = b'{"kind":"metric","v":1,"x":' + b"[" * 40 + b"]" * 40 + b"}"
    good = encode_event(metric("r1", 1))
    batch = b'{"kind":"batch","v":1,"events":[' + b",".join([good, deep, good]) + b"]}"
    out = asyncio.run(pipeline.feed([batch]))
    assert [(d.reason, d.index, d.original) for d in out.dead] == [("too_deep", None, batch)]
    assert pipeline.processor.applied == 0
