"""Recovery time: one of two workers is SIGKILLed under steady input; how long until the
rollouts it owned get decisions again (first one, and latency back under 1 s).
Target: ≤ 15 s. The floor is the group's session timeout (6 s, the broker's minimum), after
which the survivor restores the victim's partitions from their checkpoints and replays.

    python -m tests.bench.worker.recovery             # own broker
    ROLLGUARD_BENCH_BOOTSTRAP=host:port RATE=3000 python -m tests.bench.worker.recovery
"""

from __future__ import annotations

import asyncio
import os
import time

import orjson

from tests.bench.worker.common import (
    LOG_DIR,
    Paced,
    bench_broker,
    flapping_events,
    fresh_topics,
    watch_control,
)
from tests.integration.worker.support import THRESHOLD_CORE, WorkerProcess, start_worker, wait_for
from tests.integration.worker.test_fleet import partition_of
from topics.commands import Command

ROLLOUTS = 40


async def measure(
    bootstrap: str, topics: object, workers: list[WorkerProcess], rate: float
) -> None:
    telemetry, control = topics.telemetry, topics.control  # type: ignore[attr-defined]
    paced = Paced(bootstrap, telemetry, rate)
    seen: set[str] = set()
    arrivals: list[tuple[str, float, float]] = []  # rollout, arrival, decisive event sent

    def on_command(command: Command, arrival: float) -> None:
        if command.command_id in seen:
            return  # a replayed decision re-published with its id: not new
        seen.add(command.command_id)
        sent = paced.sent_at.get((command.rollout_id, command.issued_at), arrival)
        arrivals.append((command.rollout_id, arrival, sent))

    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(paced.run(flapping_events(ROLLOUTS), stop)),
        asyncio.create_task(watch_control(bootstrap, control, on_command, stop)),
    ]
    await asyncio.sleep(8)
    victim = workers[0]
    owned = orjson.loads(victim.get("/healthz")[1])["partitions"]
    theirs = {f"f{i}" for i in range(ROLLOUTS) if partition_of(f"f{i}", 4) in owned}
    killed_at = time.time()
    victim.kill()
    await asyncio.sleep(float(os.environ.get("AFTER_S", "25")))
    stop.set()
    await asyncio.gather(*tasks)
    # decisions whose decisive event was produced after the kill (not ones in flight)
    after = [(a, a - sent) for rid, a, sent in arrivals if rid in theirs and sent > killed_at]
    if not after:
        raise RuntimeError("no decisions for the victim's rollouts after the kill")
    first = min(a for a, _ in after) - killed_at
    back = next((a for a, lat in sorted(after) if lat < 1.0), None)
    print(f"  victim owned partitions {owned} ({len(theirs)} rollouts); input {rate:,.0f} ev/s")
    print(f"  SIGKILL -> first new decision for its rollouts: {first:.1f} s (target <= 15 s)")
    if back is not None:
        print(f"  SIGKILL -> decision latency back under 1 s: {back - killed_at:.1f} s")


def main() -> None:
    rate = float(os.environ.get("RATE", "3000"))
    with bench_broker() as bootstrap:
        topics = fresh_topics(bootstrap, "recovery")
        workers = [
            start_worker(bootstrap, topics, f"rec{i}", LOG_DIR, core_factory=THRESHOLD_CORE)
            for i in range(2)
        ]
        try:
            for w in workers:
                w.wait_healthy(120)
            wait_for(
                lambda: all(
                    len(orjson.loads(w.get("/healthz")[1])["partitions"]) == 2 for w in workers
                ),
                60,
            )
            asyncio.run(measure(bootstrap, topics, workers, rate))
        finally:
            for w in workers:
                w.stop()


if __name__ == "__main__":
    main()
