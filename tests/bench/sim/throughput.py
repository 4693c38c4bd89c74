"""Simulator throughput to JSONL, beside re-encoding the same events (the floor).

Run on demand: ``python -m tests.bench.sim.throughput [REPEATS]``. For four stream shapes it
prints events/s of generating + encoding + writing JSONL, and of only encoding the already-built
events with msgspec (the part no simulator can avoid), each the median of ``REPEATS`` runs, and
``floor/sim``, the median of the per-repeat ratios. The two are timed back to back in each
repeat, so a neighbour's benchmark slows both alike and the ratio stays comparable between runs
on a shared machine. Target (issue 6): >= 200k events/s to JSONL, so that the simulator is
never the bottleneck of a benchmark (the core targets 100k events/s).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import msgspec

from monitor.sim.demo import demo_streams
from monitor.sim.flow import RolloutSpec
from monitor.sim.generate import Simulation
from monitor.sim.scenarios import SCENARIO_NAMES, build_scenario
from monitor.sim.sinks import write_jsonl
from topics.events import Event

REPEATS = 5
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


def small_fleet() -> Simulation:
    """Twenty small rollouts (20 orders/s, every scenario): per-rollout overheads dominate."""
    specs = [
        RolloutSpec(
            f"s{i}",
            build_scenario(SCENARIO_NAMES[i % len(SCENARIO_NAMES)], i),
            plan="p",
            order_rate=20,
        )
        for i in range(20)
    ]
    return Simulation(specs, seed=3, duration_s=SECONDS * 4, raw=True)


def demo() -> Simulation:
    """The demo's three rollouts at the default 80 orders/s (small slices: overhead-bound)."""
    sim = demo_streams(raw=True)
    sim.duration_s = SECONDS * 5
    return sim


SHAPES: tuple[tuple[str, Callable[[], Simulation]], ...] = (
    ("busy venue", busy_venue),
    ("fleet x20", fleet),
    ("small x20", small_fleet),
    ("demo x3", demo),
)


def to_jsonl(make: Callable[[], Simulation]) -> tuple[int, float]:
    """Events and seconds to generate, encode and write the stream to a temporary file."""
    sim = make()
    with tempfile.NamedTemporaryFile("wb", delete=False) as fh:
        t = time.perf_counter()
        n = write_jsonl(sim.slices(), fh)
        elapsed = time.perf_counter() - t
    os.unlink(fh.name)
    return n, elapsed


def encode_only(slices: list[list[Event]]) -> tuple[int, float]:
    """Events and seconds to encode the already-built stream (no generation, no I/O)."""
    enc = msgspec.json.Encoder()
    t = time.perf_counter()
    n = 0
    for s in slices:
        if s:
            enc.encode_lines(s)
            n += len(s)
    return n, time.perf_counter() - t


def main(repeats: int = REPEATS) -> None:
    print(f"medians of {repeats} runs")
    head = f"{'stream':12s} {'events':>9s} {'to JSONL ev/s':>14s} {'encode-only ev/s':>17s}"
    print(f"{head} floor/sim")
    for name, make in SHAPES:
        slices = list(make().slices())
        sim_rates, enc_rates = [], []
        for _ in range(repeats):
            n, sim_s = to_jsonl(make)
            m, enc_s = encode_only(slices)
            sim_rates.append(n / sim_s)
            enc_rates.append(m / enc_s)
        sim_rate, enc_rate = statistics.median(sim_rates), statistics.median(enc_rates)
        ratio = statistics.median(e / s for e, s in zip(enc_rates, sim_rates, strict=True))
        print(f"{name:12s} {n:9,d} {sim_rate:14,.0f} {enc_rate:17,.0f} {ratio:8.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else REPEATS)
