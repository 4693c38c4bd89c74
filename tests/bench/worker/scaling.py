"""The figures of ``docs/scaling.md``, measured on a real broker and printed as the doc's
table: one worker's events/s with the product Core and the example plan (beside a bare
aiokafka reference over the same messages), memory per active series, what moving one
rollout's state costs, and decision latency while the fleet rebalances.

    python -m tests.bench.worker.scaling                    # own broker, everything
    PARTS=throughput,memory python -m tests.bench.worker.scaling
    ROLLGUARD_BENCH_BOOTSTRAP=host:port REPEATS=5 python -m tests.bench.worker.scaling

``PARTS`` picks of ``throughput``, ``memory``, ``restore``, ``rebalance``. Every broker
figure is the median of ``REPEATS`` (3) runs on fresh topics with fresh workers; each
throughput run is paired with the reference measured just before and after it.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from monitor.core import Core, load_plans
from monitor.worker.checkpoint import pack_state, unpack_state
from tests.bench.worker import rebalance
from tests.bench.worker.common import (
    LOG_DIR,
    bench_broker,
    events_applied,
    fresh_topics,
    raw_reference,
    worker_rate,
)
from tests.bench.worker.rss import stream
from tests.integration.worker.support import (
    PLANS,
    broker_scenario,
    produce,
    start_worker,
    wait_for,
)

PARTS = os.environ.get("PARTS", "throughput,memory,restore,rebalance").split(",")
REPEATS = int(os.environ.get("REPEATS", "3"))
N = int(os.environ.get("N", "300000"))  # events per throughput run: several seconds each
ROLLOUTS_STEP = int(os.environ.get("ROLLOUTS_STEP", "450"))  # ~5,000 series per step
RATE = float(os.environ.get("RATE", "4000"))


@dataclass
class Row:
    figure: str
    value: str
    reference: str = ""


def throughput(bootstrap: str, batch_size: int) -> list[Row]:
    """REPEATS paired runs of one product-core worker over a backlog of ~N events."""
    events = broker_scenario({"ra": 60.0, "rb": None, "rc": None}, seconds=N // 200)
    shape = f"{batch_size:,}-event envelopes" if batch_size else "single-event messages"
    print(f"one worker, product Core + example plan, {shape} ({len(events):,} events)")
    rates, refs, cpus, shares = [], [], [], []
    for run in range(REPEATS):
        topics = fresh_topics(bootstrap, f"scaling{batch_size}-{run}")
        produce(bootstrap, topics.telemetry, events, batch_size=batch_size)
        batches = batch_size > 0
        before = raw_reference(bootstrap, topics.telemetry, len(events), batches=batches)
        share: list[float] = []
        rate, worker = worker_rate(bootstrap, topics, len(events), f"scaling{run}", share)
        worker.stop()
        after = raw_reference(bootstrap, topics.telemetry, len(events), batches=batches)
        rates.append(rate)
        refs.append((before + after) / 2)
        cpus.append(share[0] / rate * 1e6)
        shares.append(share[0])
        print(
            f"  run {run + 1}: worker {rate:,.0f} ev/s ({share[0]:.0%} of a core, "
            f"{cpus[-1]:.1f} µs CPU/event); reference {refs[-1]:,.0f} ev/s "
            f"({rate / refs[-1]:.2f}x)",
            flush=True,
        )
    ratio = statistics.median(r / ref for r, ref in zip(rates, refs, strict=True))
    cpu = statistics.median(cpus)
    return [
        Row(
            f"one worker, {shape}",
            f"{statistics.median(rates):,.0f} ev/s ({ratio:.2f}x) using "
            f"{statistics.median(shares):.0%} of a core",
            f"getmany + orjson.loads: {statistics.median(refs):,.0f} ev/s",
        ),
        # a loaded machine gives the worker less than a core: its CPU per event is the
        # figure that holds, and one core's worth is what a worker with a core of its own does
        Row(f"CPU per event, {shape}", f"{cpu:.1f} µs: {1e6 / cpu:,.0f} ev/s per core"),
    ]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def memory_once(bootstrap: str, run: int) -> tuple[float, float, float, int]:
    """(idle MB, MB per 1,000 series, MB per rollout, series per rollout) of one worker
    fed ROLLOUTS_STEP rollouts, then as many more: the slope between the two loads. A series
    is a sample on ``/metrics`` labelled with a rollout (signals, bands, rule states, ...)."""
    topics = fresh_topics(bootstrap, f"scaling-memory{run}")
    # no cap on /metrics (20,000 samples by default): every rollout's series are exported
    worker = start_worker(
        bootstrap, topics, f"memory{run}", LOG_DIR, extra_args=["--max-series", "1000000"]
    )
    try:
        worker.wait_healthy(120)
        idle = rss_mb(worker.proc.pid)
        points: list[tuple[int, float]] = []
        applied = 0
        for step in range(2):
            events = stream(ROLLOUTS_STEP, first=step * ROLLOUTS_STEP)
            applied += len(events)
            produce(bootstrap, topics.telemetry, events, batch_size=500)
            wait_for(lambda n=applied: events_applied(worker) >= n, 900, 0.5)
            body = worker.get("/metrics", timeout=60)[1].decode()
            series = sum(1 for line in body.splitlines() if 'rollout="' in line)
            points.append((series, rss_mb(worker.proc.pid)))
    finally:
        worker.stop()
    (s1, m1), (s2, m2) = points
    if s2 <= s1:
        raise RuntimeError(f"series did not grow with the rollouts: {s1} then {s2}")
    per_series = (m2 - m1) / (s2 - s1)
    print(
        f"  run {run + 1}: idle {idle:.0f} MB; {ROLLOUTS_STEP} rollouts {s1:,} series "
        f"{m1:.0f} MB; {2 * ROLLOUTS_STEP} rollouts {s2:,} series {m2:.0f} MB: "
        f"{per_series * 1000:.1f} MB per 1,000 series",
        flush=True,
    )
    return idle, per_series * 1000, (m2 - m1) / ROLLOUTS_STEP, round((s2 - s1) / ROLLOUTS_STEP)


def memory(bootstrap: str) -> list[Row]:
    print(f"memory: one worker, product Core, {ROLLOUTS_STEP} then {2 * ROLLOUTS_STEP} rollouts")
    runs = [memory_once(bootstrap, run) for run in range(REPEATS)]
    idle, per_k, per_rollout, series = (statistics.median(x) for x in zip(*runs, strict=True))
    return [
        Row(
            "memory per active series",
            f"{per_k:.1f} MB per 1,000 series ({per_rollout * 1000:.0f} kB per rollout "
            f"of ~{series:.0f} series)",
            f"idle worker RSS: {idle:.0f} MB",
        )
    ]


def restore() -> list[Row]:
    """Pure: what moving one product-core rollout costs (export + pack on the old owner,
    unpack + import on the new one), over rollouts that have seen six seconds of traffic."""
    count = 200
    core = Core(load_plans([str(p) for p in PLANS]))
    core.process(stream(count))
    rollouts = core.rollouts()
    costs: list[tuple[float, float, int]] = []
    for _ in range(REPEATS):
        started = time.process_time()
        packed = {rid: pack_state(core.export_state(rid)) for rid in rollouts}
        exported = time.process_time() - started
        fresh = Core(load_plans([str(p) for p in PLANS]))
        started = time.process_time()
        for rid, blob in packed.items():
            fresh.import_state(rid, unpack_state(blob))
        imported = time.process_time() - started
        costs.append((exported, imported, sum(len(b) for b in packed.values())))
    exported, imported, size = (statistics.median(x) for x in zip(*costs, strict=True))
    n = len(rollouts)
    print(
        f"restore: {n} product-core rollouts: export+pack {exported / n * 1e6:.0f} µs, "
        f"unpack+import {imported / n * 1e6:.0f} µs, {size / n / 1024:.1f} kB each",
        flush=True,
    )
    return [
        Row(
            "moving one rollout (product Core)",
            f"{(exported + imported) / n * 1000:.2f} ms CPU, {size / n / 1024:.1f} kB checkpoint",
            f"export+pack {exported / n * 1e6:.0f} µs, unpack+import {imported / n * 1e6:.0f} µs",
        )
    ]


def rebalancing(bootstrap: str) -> list[Row]:
    print(
        f"rebalance: {RATE:,.0f} ev/s paced, {rebalance.ROLLOUTS} rollouts, "
        f"{rebalance.PARTITIONS} partitions, test core"
    )
    found = rebalance.repeated(bootstrap, RATE, REPEATS)
    steady = found[0]
    rows = [
        Row(
            f"decision latency: {steady.name}",
            f"p50 {steady.p50 * 1000:.0f} ms, p99 {steady.p99 * 1000:.0f} ms",
        )
    ]
    for w in found[1:]:
        rows.append(
            Row(
                f"decision latency: {w.name}",
                f"p99 {w.p99 * 1000:.0f} ms ({w.p99 / steady.p99:.1f}x), max "
                f"{w.worst * 1000:.0f} ms; settled {w.settled_s:.1f} s"
                + ("" if math.isnan(w.ready_s) else f" (of which start-up {w.ready_s:.1f} s)"),
                f"steady p99 {steady.p99 * 1000:.0f} ms",
            )
        )
    return rows


def table(rows: list[Row]) -> str:
    lines = ["| figure | median | same-run reference |", "|---|---|---|"]
    lines += [f"| {r.figure} | {r.value} | {r.reference} |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    load = "load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    print(load, flush=True)
    rows: list[Row] = restore() if "restore" in PARTS else []
    if {"throughput", "memory", "rebalance"} & set(PARTS):
        with bench_broker() as bootstrap:
            if "throughput" in PARTS:
                rows = throughput(bootstrap, 0) + throughput(bootstrap, 1000) + rows
            if "memory" in PARTS:
                rows += memory(bootstrap)
            if "rebalance" in PARTS:
                rows += rebalancing(bootstrap)
    print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"\n{table(rows)}\n", flush=True)


if __name__ == "__main__":
    main()
