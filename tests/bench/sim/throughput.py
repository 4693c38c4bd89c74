"""Simulator throughput to JSONL, beside re-encoding the same events (the floor).

Run on demand: ``python -m tests.bench.sim.throughput``. For three stream shapes it prints
events/s of generating + encoding + writing JSONL (best of ``REPEATS``), and of only encoding
the already-built events with msgspec in the same run (the part no simulator can avoid), and
the ratio. Target (issue 6): >= 200k events/s to JSONL for a busy stream, so that the
simulator is never the bottleneck of a benchmark (the core targets 100k events/s).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable

import msgspec

from monitor.sim.demo import demo_streams
from monitor.sim.flow import RolloutSpec
from monitor.sim.generate import Simulation
from monitor.sim.scenarios import build_scenario
from monitor.sim.sinks import write_jsonl

REPEATS = 3
SECONDS = 60.0


def busy_venue() -> Simulation:
    """One rollout at 3,000 orders/s with shadow mirroring (a busy bridge at the open)."""
    spec = RolloutSpec("r1", build_scenario("latency_regression", 1), plan="p", order_rate=3000)
    return Simulation([spec], seed=1, duration_s=SECONDS, raw=True)


def fleet() -> Simulation:
    """Twenty rollouts at 150 orders/s each, every scenario's faults on one market."""
    specs = [
        RolloutSpec(f"r{i}", build_scenario("latency_regression", i), plan="p", order_rate=150)
        for i in range(20)
    ]
    return Simulation(specs, seed=2, duration_s=SECONDS, raw=True)


def demo() -> Simulation:
    """The demo's three rollouts at the default 80 orders/s (small slices: overhead-bound)."""
    sim = demo_streams(raw=True)
    sim.duration_s = SECONDS * 5
    return sim


def _best(fn: Callable[[], tuple[int, float]]) -> tuple[int, float]:
    runs = [fn() for _ in range(REPEATS)]
    return max(runs, key=lambda r: r[0] / r[1])


def main() -> None:
    enc = msgspec.json.Encoder()
    print(f"{'stream':12s} {'events':>9s} {'to JSONL ev/s':>14s} {'encode-only ev/s':>17s} ratio")
    for name, make in (("busy venue", busy_venue), ("fleet x20", fleet), ("demo x3", demo)):

        def to_jsonl(make: Callable[[], Simulation] = make) -> tuple[int, float]:
            sim = make()
            with tempfile.NamedTemporaryFile("wb", delete=False) as fh:
                t = time.perf_counter()
                n = write_jsonl(sim.slices(), fh)
                elapsed = time.perf_counter() - t
            os.unlink(fh.name)
            return n, elapsed

        slices = list(make().slices())

        def encode_only(slices: list[list[object]] = slices) -> tuple[int, float]:  # type: ignore[assignment]
            t = time.perf_counter()
            n = sum(len(enc.encode_lines(s)) > 0 and len(s) for s in slices)
            return n, time.perf_counter() - t

        n, sim_s = _best(to_jsonl)
        m, enc_s = _best(encode_only)
        sim_rate, enc_rate = n / sim_s, m / enc_s
        print(f"{name:12s} {n:9,d} {sim_rate:14,.0f} {enc_rate:17,.0f} {enc_rate / sim_rate:5.1f}x")


if __name__ == "__main__":
    main()
