"""Decision latency: from the decisive event's produce call to the command's arrival on the
control topic, p50/p99, with the input paced at half of the worker's measured maximum.
Target: p99 ≤ 100 ms.

    python -m tests.bench.worker.latency              # own broker
    ROLLGUARD_BENCH_BOOTSTRAP=host:port SECONDS=20 python -m tests.bench.worker.latency

Input goes in envelopes of ``BATCH`` (100) events: a Python producer of single messages in
the bench process cannot drive the worker at half its maximum, and its own queueing would be
measured as latency. ``BATCH=1`` measures single-event messages (at a rate it can keep up).

Uses the test core (its command's ``issued_at`` is the decisive event's ``ts``, which maps each
command to the produce time of one event); the path measured is the worker's two hops
(telemetry → by_rollout → control) with every broker ack in between.
"""

from __future__ import annotations

import asyncio
import os
import time
from itertools import islice

import orjson

from tests.bench.worker.common import (
    LOG_DIR,
    Paced,
    bench_broker,
    flapping_events,
    fresh_topics,
    percentile,
    watch_control,
    worker_rate,
)
from tests.integration.worker.support import (
    THRESHOLD_CORE,
    metric,
    produce,
    start_worker,
    wait_for,
)
from topics.commands import Command

ROLLOUTS = 50
BATCH = int(os.environ.get("BATCH", "100"))  # events per input message (1: single events)


async def measure(bootstrap: str, topic: str, control: str, rate: float, seconds: float) -> None:
    paced = Paced(bootstrap, topic, rate, batch=BATCH)
    latencies: list[float] = []
    warmup_until = time.time() + 2.0

    def on_command(command: Command, arrival: float) -> None:
        sent = paced.sent_at.get((command.rollout_id, command.issued_at))
        if sent is not None and sent > warmup_until:
            latencies.append(arrival - sent)

    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(paced.run(flapping_events(ROLLOUTS), stop)),
        asyncio.create_task(watch_control(bootstrap, control, on_command, stop)),
    ]
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks)
    achieved = paced.sent / (time.perf_counter() - started)
    if not latencies:
        raise RuntimeError("no decisions arrived")
    print(f"  input paced at {rate:,.0f} ev/s target, {achieved:,.0f} ev/s achieved")
    print(
        f"  decisions {len(latencies)}: p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms  (target p99 <= 100 ms)",
        flush=True,
    )


def main() -> None:
    n = int(os.environ.get("N", "300000"))  # a round applies up to 50k: several rounds
    seconds = float(os.environ.get("SECONDS", "20"))

    with bench_broker() as bootstrap:
        backlog = fresh_topics(bootstrap, "max")
        produce(
            bootstrap,
            backlog.telemetry,
            list(islice(flapping_events(ROLLOUTS), n)),
            batch_size=BATCH if BATCH > 1 else 0,
            one_key=b"load" if BATCH > 1 else None,  # the same message shapes as the paced run
        )
        max_rate, worker = worker_rate(bootstrap, backlog, n, "max", core_factory=THRESHOLD_CORE)
        worker.stop()
        print(f"worker maximum over a backlog: {max_rate:,.0f} ev/s ({BATCH} events/message)")

        topics = fresh_topics(bootstrap, "latency")
        worker = start_worker(bootstrap, topics, "latency", LOG_DIR, core_factory=THRESHOLD_CORE)
        try:
            worker.wait_healthy(120)
            wait_for(lambda: len(orjson.loads(worker.get("/healthz")[1])["partitions"]) == 4, 60)
            rate = float(os.environ.get("RATE", "0")) or max_rate / 2
            asyncio.run(measure(bootstrap, topics.telemetry, topics.control, rate, seconds))
            for name in ("rollguard_processing_seconds", "rollguard_decision_latency_seconds"):
                count = metric(worker, f"{name}_count")
                total = metric(worker, f"{name}_sum")
                print(
                    f"  worker's {name}: mean {total / max(count, 1) * 1000:.1f} ms "
                    f"over {count:.0f}"
                )
        finally:
            worker.stop()


if __name__ == "__main__":
    main()
