"""Event time: lateness, out-of-order, duplicates, batch boundaries and checkpoint/restore."""

from __future__ import annotations

import random
from pathlib import Path

import msgspec
import orjson
import pytest

from monitor.core import Core, PlanSet, load_plans
from monitor.sim.synthetic import StreamSpec, generate
from tests.unit.core.helpers import T0, orders, plan_set, register, rule
from topics.commands import Command, encode_command
from topics.events import Event

EXAMPLES = ["examples/plans/broker-bridge.yaml", "examples/rules/broker-gates.yaml"]


@pytest.fixture(scope="module")
def example_plans() -> PlanSet:
    return load_plans(EXAMPLES)


@pytest.fixture(scope="module")
def stream() -> list[Event]:
    """21 minutes of flow with a canary regression from 1000 s: promote, pause, rollback."""
    spec = StreamSpec(
        seconds=1250, baseline_per_s=4, canary_per_s=2, shadow_per_s=1, regress_at=1000.0, seed=3
    )
    return generate(spec)


@pytest.fixture(scope="module")
def expected(example_plans: PlanSet, stream: list[Event]) -> list[bytes]:
    """Commands of the uninterrupted, in-order run (batches of 500)."""
    return run_all(example_plans, stream)


def run_all(plans: PlanSet, events: list[Event], batch: int = 500) -> list[bytes]:
    core = Core(plans)
    out: list[Command] = []
    for i in range(0, len(events), batch):
        out += core.process(events[i : i + batch])
    out += core.advance_watermark(events[-1].ts + 60)
    return [encode_command(c) for c in out]


def test_example_stream_decides_promote_then_stops_the_regression(expected: list[bytes]) -> None:
    cmds = [msgspec.json.decode(b, type=Command) for b in expected]
    actions = [c.action for c in cmds]
    assert actions[0] == "promote" and "rollback" in actions
    # 2 canary orders/s: under the windowed sequential test's minimum, no pause before it
    assert [c.action for c in cmds] == ["promote", "rollback"]
    assert all(c.issued_at >= T0 + 1000 for c in cmds[1:])


def test_batch_size_does_not_change_decisions(
    example_plans: PlanSet, stream: list[Event], expected: list[bytes]
) -> None:
    assert run_all(example_plans, stream, 1) == expected
    assert run_all(example_plans, stream, 7919) == expected


def test_out_of_order_within_lateness_same_decisions(
    example_plans: PlanSet, stream: list[Event], expected: list[bytes]
) -> None:
    # Shuffle inside windows of events no more than 1.5 s apart (lateness is 2 s); the
    # registration stays first (events of a rollout not yet registered are not bound).
    rng = random.Random(5)
    shuffled: list[Event] = [stream[0]]
    i = 1
    while i < len(stream):
        j = i
        while j < len(stream) and stream[j].ts - stream[i].ts < 1.5:
            j += 1
        chunk = stream[i:j]
        rng.shuffle(chunk)
        shuffled += chunk
        i = j
    assert shuffled != stream
    core = Core(example_plans)
    out = core.process(shuffled)
    out += core.advance_watermark(stream[-1].ts + 60)
    assert core.counters()["late"] == 0
    assert [encode_command(c) for c in out] == expected


def test_duplicates_do_not_double_count(
    example_plans: PlanSet, stream: list[Event], expected: list[bytes]
) -> None:
    rng = random.Random(9)
    doubled: list[Event] = []
    for ev in stream:
        doubled.append(ev)
        if rng.random() < 0.2:
            doubled.append(ev)  # redelivered right away
    core = Core(example_plans)
    out = core.process(doubled)
    out += core.advance_watermark(stream[-1].ts + 60)
    assert core.counters()["duplicates"] == len(doubled) - len(stream)
    assert [encode_command(c) for c in out] == expected


def test_late_events_are_counted_not_applied(tmp_path: Path) -> None:
    plans = plan_set(tmp_path, [rule("e", **{"for": "0s"})], allowed_lateness="2s")
    core = Core(plans)
    core.process([register(), *orders(10, 10)])
    core.process(orders(20, 10))  # watermark 18: steps up to 17 are closed
    late = orders(12, 10, errors=10, tag="late")  # would fire if applied
    assert core.process(late) == []
    assert core.counters("r1")["late"] == 10
    core.process(orders(17.5, 10, tag="x"))  # step 18: still open, within lateness
    assert core.counters("r1")["late"] == 10
    assert core.advance_watermark(T0 + 40) == []


def test_far_future_event_is_refused(tmp_path: Path) -> None:
    plans = plan_set(tmp_path, [rule("e")])
    core = Core(plans)
    core.process([register(), *orders(1, 5)])
    core.process(orders(10 * 86_400, 1, errors=1))
    assert core.counters()["future"] == 1


@pytest.mark.parametrize("cut", [1, 4001, 9100])
def test_restore_then_replay_tail_gives_the_same_commands(
    example_plans: PlanSet, stream: list[Event], expected: list[bytes], cut: int
) -> None:
    first = Core(example_plans)
    got = [encode_command(c) for c in first.process(stream[:cut])]
    saved = {rid: orjson.dumps(first.export_state(rid)) for rid in first.rollouts()}
    second = Core(example_plans)
    for rid, blob in saved.items():
        second.import_state(rid, orjson.loads(blob))
    assert second.view("bridge-v2-rollout") == first.view("bridge-v2-rollout")
    tail = second.process(stream[cut:])
    tail += second.advance_watermark(stream[-1].ts + 60)
    got += [encode_command(c) for c in tail]
    assert got == expected


def test_forget_and_views(example_plans: PlanSet, stream: list[Event]) -> None:
    core = Core(example_plans)
    core.process(stream[:8000])
    view = core.view("bridge-v2-rollout")
    assert view is not None
    for key in ("stage", "verdict", "traffic_pct", "firing", "last_decisions"):
        assert key in view
    orjson.dumps(view)
    assert {g.signal for g in core.gauges()} >= {"error_rate", "latency_p99_ms", "freshness_s"}
    assert {s.state for s in core.rule_states()} <= {"inactive", "pending", "firing"}
    assert list(core.thresholds()) and list(core.bands())
    core.forget("bridge-v2-rollout")
    assert core.rollouts() == [] and core.view("bridge-v2-rollout") is None
