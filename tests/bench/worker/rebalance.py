"""Decision latency while the fleet rebalances: a worker joining, one leaving cleanly
(SIGTERM) and one crashing (SIGKILL), under steady paced input, beside the steady-state
latency measured in the same run before the first change.

    python -m tests.bench.worker.rebalance            # own broker; also part of .scaling
    ROLLGUARD_BENCH_BOOTSTRAP=host:port RATE=4000 REPEATS=1 python -m tests.bench.worker.rebalance

Each run is on fresh topics with fresh workers; the figure is the median of ``REPEATS`` (3).

The fleet starts with two workers on ``PARTITIONS`` (12) partitions; a third joins, then one
leaves cleanly, then one is killed. For each change: how long until every worker owned its
share of the partitions again ("settled"; for a join, counted from starting the process),
and p50 / p99 / max latency (decisive event's send → command seen on the control topic) of
the decisions whose decisive event was sent from the change until ``WINDOW_S`` (10 s) after
the fleet settled, so the rebalance and the catch-up after it are both in. The rebalance
is eager (aiokafka has no cooperative protocol): every member gives up all its partitions
for a moment, so every rollout's decisions wait, not only those that move.

Uses the test core (its command's ``issued_at`` is the decisive event's ``ts``, so each
decision names the message it answers): the pause is the group protocol, the checkpoint of
the revoked partitions and the restore of the assigned ones, not rule evaluation. What a
product-core rollout costs to move is printed by ``.scaling`` (restore µs per rollout).
"""

from __future__ import annotations

import asyncio
import math
import os
import statistics
import time
from dataclasses import dataclass, field

import orjson

from tests.bench.worker.common import (
    LOG_DIR,
    Paced,
    bench_broker,
    flapping_events,
    percentile,
    watch_control,
)
from tests.integration.worker.support import THRESHOLD_CORE, WorkerProcess, start_worker
from topics.admin import create_topics
from topics.commands import Command
from topics.config import TopicsConfig

PARTITIONS = int(os.environ.get("PARTITIONS", "12"))
ROLLOUTS = 60  # each decides every ~6 s of event time: ~10 decisions/s over the fleet
WINDOW_S = float(os.environ.get("WINDOW_S", "10"))
STEADY_S = 10.0  # before the first change, after a 3 s warm-up
SETTLE_TIMEOUT_S = 90.0


@dataclass
class Change:
    name: str
    at: float
    settled_s: float = float("nan")
    window_s: float = 0.0
    """Decisions whose decisive event was sent in ``[at, at + window_s)`` count for it."""
    ready_s: float = float("nan")
    """A joining worker: seconds from its start to a healthy ``/healthz``."""


@dataclass
class Timeline:
    """Decisions seen (first copy of each id): (arrival, decisive event sent)."""

    decisions: list[tuple[float, float]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    steady: tuple[float, float] = (0.0, 0.0)

    def latencies(self, start: float, end: float) -> list[float]:
        return [arrival - sent for arrival, sent in self.decisions if start <= sent < end]


@dataclass
class Window:
    """Latency figures (seconds) of one stretch of the run."""

    name: str
    decisions: int
    p50: float
    p99: float
    worst: float
    settled_s: float = float("nan")
    ready_s: float = float("nan")


FIGURES = ("p50", "p99", "worst", "settled_s", "ready_s")


def owns(worker: WorkerProcess) -> int:
    return len(orjson.loads(worker.get("/healthz", timeout=10)[1])["partitions"])


async def settled(workers: list[WorkerProcess], since: float) -> float:
    """Seconds from ``since`` until every worker of ``workers`` owns its share of the
    partitions."""
    started = time.time()
    share = PARTITIONS // len(workers)
    while time.time() - started < SETTLE_TIMEOUT_S:
        counts = await asyncio.gather(*(asyncio.to_thread(owns, w) for w in workers))
        if all(count == share for count in counts) and sum(counts) == PARTITIONS:
            return time.time() - since
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the fleet did not settle in {SETTLE_TIMEOUT_S} s")


async def run(
    bootstrap: str, topics: TopicsConfig, rate: float, fleet: list[WorkerProcess]
) -> Timeline:
    timeline = Timeline()
    paced = Paced(bootstrap, topics.telemetry, rate)
    seen: set[str] = set()

    def on_command(command: Command, arrival: float) -> None:
        if command.command_id in seen:
            return  # re-published after the crash with its id: orchestrators drop it
        seen.add(command.command_id)
        sent = paced.sent_at.get((command.rollout_id, command.issued_at))
        if sent is not None:
            timeline.decisions.append((arrival, sent))

    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(paced.run(flapping_events(ROLLOUTS), stop)),
        asyncio.create_task(watch_control(bootstrap, topics.control, on_command, stop)),
    ]
    try:
        await asyncio.sleep(3.0)
        timeline.steady = (time.time(), time.time() + STEADY_S)
        await asyncio.sleep(STEADY_S)

        change = Change("a worker joins (2 -> 3)", time.time())
        fleet.append(await asyncio.to_thread(start_named, bootstrap, topics, "join"))
        change.ready_s = time.time() - change.at
        await settle(fleet, change, timeline)

        change = Change("a worker leaves, SIGTERM (3 -> 2)", time.time())
        leaving = fleet.pop(0)
        await asyncio.to_thread(leaving.stop, 60)
        await settle(fleet, change, timeline)

        change = Change("a worker crashes, SIGKILL (2 -> 1)", time.time())
        await asyncio.to_thread(fleet.pop(0).kill)
        await settle(fleet, change, timeline)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    return timeline


async def settle(fleet: list[WorkerProcess], change: Change, timeline: Timeline) -> None:
    """Wait until the fleet settled after ``change``, then ``WINDOW_S`` more (and the
    decisions of that window a few seconds to arrive)."""
    change.settled_s = await settled(fleet, change.at)
    change.window_s = change.settled_s + WINDOW_S
    timeline.changes.append(change)
    await asyncio.sleep(max(0.0, change.at + change.window_s + 3 - time.time()))


def start_named(bootstrap: str, topics: TopicsConfig, name: str) -> WorkerProcess:
    worker = start_worker(
        bootstrap, topics, f"rebalance-{name}", LOG_DIR, core_factory=THRESHOLD_CORE
    )
    worker.wait_healthy(120)
    return worker


def windows(timeline: Timeline) -> list[Window]:
    """The steady-state window, then one per change."""
    out = []
    nan = float("nan")
    stretches = [("steady state, 2 workers (reference)", *timeline.steady, nan, nan)]
    stretches += [
        (c.name, c.at, c.at + c.window_s, c.settled_s, c.ready_s) for c in timeline.changes
    ]
    for name, start, end, settle, ready in stretches:
        lat = timeline.latencies(start, end)
        if not lat:
            raise RuntimeError(f"no decisions in the window of: {name}")
        p50, p99 = percentile(lat, 0.5), percentile(lat, 0.99)
        out.append(Window(name, len(lat), p50, p99, max(lat), settle, ready))
    return out


def measure(bootstrap: str, rate: float) -> list[Window]:
    """One run on fresh topics; the worker processes are stopped whatever happens."""
    topics = TopicsConfig(partitions=PARTITIONS).with_prefix(f"bench-rebalance-{time.time_ns()}")
    create_topics(bootstrap, topics)
    fleet: list[WorkerProcess] = []
    try:
        fleet += [start_named(bootstrap, topics, str(i)) for i in range(2)]
        asyncio.run(settled(fleet, time.time()))
        return windows(asyncio.run(run(bootstrap, topics, rate, fleet)))
    finally:
        for worker in fleet:
            worker.stop()


def repeated(bootstrap: str, rate: float, repeats: int) -> list[Window]:
    """``repeats`` runs, each printed; per window the median of each figure."""
    runs = []
    for index in range(repeats):
        print(f"  run {index + 1} of {repeats}:", flush=True)
        runs.append(measure(bootstrap, rate))
        print_windows(runs[-1])
    return [
        Window(
            found[0].name,
            int(statistics.median(w.decisions for w in found)),
            *(statistics.median(getattr(w, f) for w in found) for f in FIGURES),
        )
        for found in zip(*runs, strict=True)
    ]


def print_windows(found: list[Window]) -> None:
    reference = found[0].p99
    for w in found:
        settle = "" if math.isnan(w.settled_s) else f", settled in {w.settled_s:.1f} s"
        if not math.isnan(w.ready_s):
            settle += f" (started and healthy in {w.ready_s:.1f} s)"
        print(
            f"  {w.name:<38} {w.decisions:>4} decisions: p50 {w.p50 * 1000:6.0f} ms, "
            f"p99 {w.p99 * 1000:6.0f} ms ({w.p99 / reference:5.1f}x steady), "
            f"max {w.worst * 1000:6.0f} ms{settle}",
            flush=True,
        )


def main() -> None:
    rate = float(os.environ.get("RATE", "4000"))
    repeats = int(os.environ.get("REPEATS", "3"))
    with bench_broker() as bootstrap:
        print(f"rebalance under {rate:,.0f} ev/s, {ROLLOUTS} rollouts, {PARTITIONS} partitions")
        found = repeated(bootstrap, rate, repeats)
    print(f"  median of {repeats} runs:")
    print_windows(found)


if __name__ == "__main__":
    main()
