"""Scale-out: three workers on twelve partitions split the partitions and the rollouts
evenly; one worker stopped and, later, one joining while input flows hand their rollouts
over with no lost and no repeated decision (the control topic equals the offline replay,
each command once).

The test core's reason counts the events its rollout has seen, so an event applied twice
or skipped across a hand-over changes a decision's content under the same id.
"""

from __future__ import annotations

import time
from collections import Counter
from itertools import islice
from pathlib import Path

import orjson

from tests.integration.worker.support import (
    THRESHOLD_CORE,
    ControlLog,
    WorkerProcess,
    flapping,
    offline,
    produce,
    read_control,
    start_worker,
    wait_for,
)
from tests.integration.worker.test_fleet import assert_same_decisions, partition_of
from topics.admin import create_topics
from topics.config import TopicsConfig

PARTITIONS = 12
PER_PARTITION = 2  # rollouts on each by_rollout partition: 24 rollouts, 8 per worker of 3
SECONDS = 96.0  # of event time: each rollout pauses and proceeds every 16 s, ~12 decisions
STEP_S = 0.5
BAD_S = 8.0  # canary error rate high for 8 s, then low for 8 s (the test core's for: 5 s)
SETTLE_S = 60.0  # a rebalance on a loaded 2-core machine: seconds, not a minute


def evenly_keyed(partitions: int, per_partition: int) -> list[str]:
    """Rollout ids of which exactly ``per_partition`` land on each partition."""
    ids: list[str] = []
    count: Counter[int] = Counter()
    n = 0
    while len(ids) < partitions * per_partition:
        rid = f"s{n}"
        n += 1
        q = partition_of(rid, partitions)
        if count[q] < per_partition:
            count[q] += 1
            ids.append(rid)
    return ids


def owned(worker: WorkerProcess) -> tuple[list[int], int]:
    """(by_rollout partitions, rollouts tracked) as the worker's /healthz tells them."""
    health = orjson.loads(worker.get("/healthz")[1])
    return health["partitions"], health["rollouts"]


def spread_is_even(workers: list[WorkerProcess], rollouts: list[str]) -> bool:
    """Every partition owned by exactly one worker, each holding the same number of
    partitions and of rollouts, and the fleet's status view naming as each rollout's owner
    the worker that holds its partition."""
    views = [owned(w) for w in workers]
    partitions = [q for qs, _ in views for q in qs]
    share = PARTITIONS // len(workers)
    if sorted(partitions) != list(range(PARTITIONS)):
        return False
    if any(len(qs) != share or n != share * PER_PARTITION for qs, n in views):
        return False
    holder = {q: w.log_path.stem for w, (qs, _) in zip(workers, views, strict=True) for q in qs}
    listing = orjson.loads(workers[0].get("/rollouts")[1])["rollouts"]
    owners = {row["rollout_id"]: row["owner"] for row in listing}
    return all(owners.get(rid) == holder[partition_of(rid, PARTITIONS)] for rid in rollouts)


def test_three_workers_on_twelve_partitions_hand_over_exactly(
    bootstrap: str, tmp_path: Path
) -> None:
    topics = TopicsConfig(partitions=PARTITIONS).with_prefix(f"scale{time.time_ns()}")
    create_topics(bootstrap, topics)
    rollouts = evenly_keyed(PARTITIONS, PER_PARTITION)
    ticks = int(SECONDS / STEP_S)  # per tick and rollout: two orders and the error rate
    events = list(
        islice(flapping(rollouts, STEP_S, BAD_S, stagger_s=0.7), ticks * len(rollouts) * 3)
    )
    expected = offline(events, core="threshold")
    third = len(events) // 3
    phases = [events[:third], events[third : 2 * third], events[2 * third :]]

    def decided_before(phase: int) -> int:
        """Decisions the events up to the end of ``phase`` make (the core decides on each
        event as it comes, so a prefix of the stream decides a prefix of the decisions)."""
        return len(offline([e for p in phases[: phase + 1] for e in p], core="threshold"))

    def wait_decisions(phase: int) -> ControlLog:
        want = decided_before(phase)
        return read_control(bootstrap, topics, lambda log: len(log.distinct()) >= want, 60)

    workers = [
        start_worker(bootstrap, topics, f"w{i}", tmp_path, core_factory=THRESHOLD_CORE)
        for i in range(3)
    ]
    try:
        for w in workers:
            w.wait_healthy(120)
        produce(bootstrap, topics.telemetry, phases[0])
        wait_decisions(0)
        wait_for(lambda: spread_is_even(workers, rollouts), SETTLE_S, 0.5)

        # one worker stops (SIGTERM) while half of the next phase is still to come
        half = len(phases[1]) // 2
        produce(bootstrap, topics.telemetry, phases[1][:half])
        leaving = workers.pop(0)
        leaving.stop(timeout_s=60)
        assert leaving.proc.returncode == 0, leaving.log_tail()  # a clean stop, not a kill
        produce(bootstrap, topics.telemetry, phases[1][half:])
        wait_decisions(1)
        wait_for(lambda: spread_is_even(workers, rollouts), SETTLE_S, 0.5)

        # a new worker joins while the last phase flows
        joining = start_worker(bootstrap, topics, "w3", tmp_path, core_factory=THRESHOLD_CORE)
        workers.append(joining)
        produce(bootstrap, topics.telemetry, phases[2][: len(phases[2]) // 2])
        joining.wait_healthy(120)
        wait_for(lambda: spread_is_even(workers, rollouts), SETTLE_S, 0.5)
        produce(bootstrap, topics.telemetry, phases[2][len(phases[2]) // 2 :])
        log = read_control(bootstrap, topics, lambda log: len(log.distinct()) >= len(expected), 90)
        assert_same_decisions(log, expected)
        repeated = {cid: len(copies) for cid, copies in log.by_id().items() if len(copies) > 1}
        assert repeated == {}, f"decisions published more than once: {repeated}"
        # the joined worker decided for the rollouts it took over
        assert joining.proc.poll() is None and owned(joining)[1] == 4 * PER_PARTITION
        assert float(orjson.loads(joining.get("/healthz")[1])["events_applied"]) > 0
        # every rollout decided in every phase, so each hand-over moved live rule state
        for phase in range(3):
            start, end = phases[phase][0].ts, phases[phase][-1].ts
            assert {c.rollout_id for c in expected if start <= c.issued_at <= end} == set(rollouts)
    finally:
        for w in workers:
            w.stop()
