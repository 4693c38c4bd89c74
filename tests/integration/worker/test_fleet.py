"""Two workers, a scenario with sustained regressions, one worker SIGKILLed mid-stream:
every expected decision arrives, none with different content under one id, and the set
equals the offline core run over the same events."""

from __future__ import annotations

from pathlib import Path

import msgspec
import orjson
from kafka.partitioner.default import murmur2

from tests.integration.worker.support import (
    ControlLog,
    broker_scenario,
    content,
    metric,
    offline,
    produce,
    read_control,
    start_worker,
    wait_for,
)
from topics.config import TopicsConfig


def partition_of(rollout_id: str, partitions: int) -> int:
    """The by_rollout partition a rollout lands on (Kafka's default partitioner)."""
    return (murmur2(rollout_id.encode()) & 0x7FFFFFFF) % partitions


def assert_same_decisions(log: ControlLog, expected: list) -> None:
    for command_id, copies in log.by_id().items():
        assert len({content(c) for c in copies}) == 1, f"{command_id} published with two contents"
    got = {cid: content(c) for cid, c in log.distinct().items()}
    want = {c.command_id: content(c) for c in expected}
    if got != want:
        summary = [
            f"{side} {cid[:8]} {c.rollout_id} {c.action} {c.rule} at {c.issued_at}"
            for side, commands in (("got", log.distinct().values()), ("want", expected))
            for c in commands
            for cid in [c.command_id]
            if (side == "got" and got[cid] != want.get(cid))
            or (side == "want" and want[cid] != got.get(cid))
        ]
        wanted = {c.command_id: c for c in expected}
        for cid, c in log.distinct().items():
            if cid in wanted and got[cid] != want[cid]:
                a, b = msgspec.to_builtins(c), msgspec.to_builtins(wanted[cid])
                summary += [
                    f"  {cid[:8]}.{k}: got {a[k]!r} want {b[k]!r}" for k in a if a[k] != b[k]
                ]
        raise AssertionError("decisions differ from the offline run:\n" + "\n".join(summary))


def test_sigkill_one_of_two_workers(
    bootstrap: str, topics_config: TopicsConfig, tmp_path: Path
) -> None:
    # the example broker plan; ra regresses before the kill, rb across it, rc stays healthy
    # the latency CUSUM rolls back ~46 s after onset (its for: 45s): ra decides before the
    # cut (half the events, ~164 s), rb's rule is pending at the cut and rolls back at ~181 s
    events = broker_scenario({"ra": 30.0, "rb": 135.0, "rc": None}, seconds=330)
    expected = offline(events)
    assert {c.rollout_id for c in expected} == {"ra", "rb"}  # the scenario does regress
    workers = [start_worker(bootstrap, topics_config, f"w{i}", tmp_path) for i in range(2)]
    try:
        for w in workers:
            w.wait_healthy()
        half = len(events) // 2
        produce(bootstrap, topics_config.telemetry, events[:half])
        first_half = [c for c in expected if c.issued_at < events[half].ts]
        read_control(bootstrap, topics_config, lambda log: len(log.distinct()) >= len(first_half))

        # kill the owner of rb, whose rules are building up at the cut: its state must survive
        victim_partition = partition_of("rb", topics_config.partitions)
        owners = [orjson.loads(w.get("/healthz")[1])["partitions"] for w in workers]
        victim = next(i for i, owned in enumerate(owners) if victim_partition in owned)
        # restore from a real checkpoint, not only a replay from offset 0
        wait_for(lambda: metric(workers[victim], "rollguard_checkpoints_total") >= 1)
        workers[victim].kill()
        survivor = workers[1 - victim]

        produce(bootstrap, topics_config.telemetry, events[half:])
        log = read_control(
            bootstrap, topics_config, lambda log: len(log.distinct()) >= len(expected), 90
        )
        assert_same_decisions(log, expected)

        # the survivor owns everything now and answers over HTTP, from the status topic,
        # which follows the control topic by a flush (the status never runs ahead of it)
        def rb() -> dict[str, object]:
            status, body = survivor.get("/rollouts/rb")
            assert status == 200, survivor.log_tail()
            view: dict[str, object] = orjson.loads(body)
            return view

        wait_for(lambda: rb()["status"] == "rolled_back", 15)
        view = rb()
        assert view["rollout_id"] == "rb" and view["owner"] == survivor.log_path.stem
        assert survivor.get("/rollouts/nope")[0] == 404
        metrics = survivor.get("/metrics")[1].decode()
        assert "rollguard_events_total" in metrics

        # /healthz counts the same progress without rendering every series
        def applied() -> float:
            return float(orjson.loads(survivor.get("/healthz")[1])["events_applied"])

        wait_for(lambda: applied() == metric(survivor, "rollguard_events_total") > 0)
        assert "rollguard_rule_state" in metrics and 'rollout="rb"' in metrics
        assert "rollguard_checkpoints_total" in metrics
    finally:
        for w in workers:
            w.stop()
