"""Worker memory with 10,000 active series: resident set size of one worker (product Core,
example broker plan) once it holds enough rollouts to export ≥ 10,000 ``rollguard_signal``
series (rollout × signal × variant × segment), beside the same worker's RSS when idle.
Target: ≤ 500 MB.

    python -m tests.bench.worker.rss                  # own broker
    ROLLGUARD_BENCH_BOOTSTRAP=host:port SERIES=10000 python -m tests.bench.worker.rss
"""

from __future__ import annotations

import heapq
import os
from pathlib import Path

from monitor.sim.synthetic import StreamSpec, generate
from tests.bench.worker.common import LOG_DIR, bench_broker, fresh_topics
from tests.integration.worker.support import metric, produce, start_worker, wait_for
from topics.events import Event

SERIES_PER_ROLLOUT = 11  # measured: the example plan's gauges per rollout on this stream


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of ``pid`` in MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return tuple(int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


def stream(rollouts: int, first: int = 0) -> list[Event]:
    """Six seconds of the example plan's order flow of rollouts ``s{first}`` onwards."""
    streams = [
        generate(
            StreamSpec(
                rollout_id=f"s{i}",
                seconds=6,
                seed=i + 1,
                baseline_per_s=10,
                canary_per_s=10,
                shadow_per_s=2,
                signoffs_at=None,
            )
        )
        for i in range(first, first + rollouts)
    ]
    return list(heapq.merge(*streams, key=lambda e: e.ts))


def main() -> None:
    series = int(os.environ.get("SERIES", "10000"))
    rollouts = -(-series // SERIES_PER_ROLLOUT) + 10
    events = stream(rollouts)
    with bench_broker() as bootstrap:
        topics = fresh_topics(bootstrap, "rss")
        worker = start_worker(bootstrap, topics, "rss", LOG_DIR)
        try:
            worker.wait_healthy(120)
            idle, _ = rss_mb(worker.proc.pid)
            produce(bootstrap, topics.telemetry, events, batch_size=500)
            wait_for(lambda: metric(worker, "rollguard_events_total") >= len(events), 900, 0.5)
            body = worker.get("/metrics", timeout=60)[1].decode()
            exported = sum(1 for line in body.splitlines() if line.startswith("rollguard_signal{"))
            loaded, peak = rss_mb(worker.proc.pid)
            print(f"  {rollouts} rollouts, {len(events):,} events, {exported:,} signal series")
            print(
                f"  worker RSS idle {idle:.0f} MB; with the series {loaded:.0f} MB "
                f"(peak {peak:.0f} MB; target <= 500 MB)"
            )
        finally:
            worker.stop()


if __name__ == "__main__":
    main()
