"""End-to-end events/s of one worker vs a bare aiokafka ``getmany`` + JSON decode loop over
the same messages, for single-event messages and for 1,000-event batch envelopes; beside
them the do-nothing faust agent and rollguard installed in a faust app (``monitor.faust``,
same test core), over the same topic. Target: worker ≥ 0.3 × reference.

    python -m tests.bench.worker.throughput            # own broker
    SHAPES=batch python -m tests.bench.worker.throughput  # of single, batch, real, real-batch
    ROLLGUARD_BENCH_BOOTSTRAP=host:port N=200000 REPEATS=5 python -m tests.bench.worker.throughput

Each worker figure is REPEATS runs (default 3) on fresh topics, each beside references taken
just before and after it; the median ratio is the figure.

The worker's rate is taken from its first event applied to its last. Its ingest starts
forwarding before that clock starts, so a short backlog overstates the rate: 100k single
events read 0.70x and 500k in envelopes 0.26-0.28x, where 400k and 2M (the defaults, several
seconds each) read 0.47x and 0.21x in the same session.

The pipeline is measured with the small test core (``threshold_core``: near-free per event)
so the figure is the worker's own cost; a second single-event run uses the product ``Core``
with the example broker plan (single-event messages, ``real``, and 1,000-event envelopes,
``real-batch``), whose per-event cost (~12-16 µs of CPU here, ``python -m
tests.bench.core.replay``) bounds those rows.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys

from tests.bench.worker.common import bench_broker, fresh_topics, raw_reference, worker_rate
from tests.integration.worker.support import THRESHOLD_CORE, broker_scenario, produce, scenario
from topics.events import Event

REPEATS = int(os.environ.get("REPEATS", "3"))
SHAPES = os.environ.get("SHAPES", "single,batch,real,real-batch").split(",")


def faust_rate(module: str, bootstrap: str, target: str, count: int) -> float:
    """Events/s a faust subprocess (``tests.bench.worker.<module>``) reports."""
    out = subprocess.run(
        [sys.executable, "-m", f"tests.bench.worker.{module}", bootstrap, target, str(count)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    found = re.search(rf"{module} (\d+) ([\d.]+)", out.stdout + out.stderr)
    if found:
        return int(found[1]) / float(found[2])
    raise RuntimeError(f"{module} gave no figure:\n{(out.stdout + out.stderr)[-2000:]}")


def row(name: str, rate: float, reference: float | None = None) -> None:
    ratio = f"{rate / reference:6.2f}x" if reference else "       "
    print(f"  {name:<52} {rate:>11,.0f} ev/s {1e6 / rate:6.2f} µs/event  {ratio}", flush=True)


def paired_runs(
    bootstrap: str,
    name: str,
    events: list[Event],
    *,
    batch_size: int = 0,
    label: str = "rollguard worker, end to end (test core)",
    **worker_options: object,
) -> None:
    """REPEATS runs of the worker, each on fresh topics beside the reference measured just
    before and just after it over the same messages (their mean: the machine's speed drifts
    from minute to minute here); prints each run and the median ratio."""
    ratios: list[float] = []
    cpu_us: list[float] = []  # CPU per event: less swayed by other processes than the rate
    for run in range(REPEATS):
        topics = fresh_topics(bootstrap, f"{name}{run}")
        produce(bootstrap, topics.telemetry, events, batch_size=batch_size)
        batches = batch_size > 0
        before = raw_reference(bootstrap, topics.telemetry, len(events), batches=batches)
        cpu: list[float] = []
        rate, worker = worker_rate(
            bootstrap, topics, len(events), f"{name}{run}", cpu, **worker_options
        )
        worker.stop()
        after = raw_reference(bootstrap, topics.telemetry, len(events), batches=batches)
        reference = (before + after) / 2
        ratios.append(rate / reference)
        cpu_us.append(cpu[0] / rate * 1e6)
        row(f"run {run + 1}: reference (before {before:,.0f}, after {after:,.0f})", reference)
        row(f"run {run + 1}: {label}", rate, reference)
        print(f"    the worker's CPU: {cpu_us[-1]:.1f} µs/event ({cpu[0]:.0%} of one core)")
    print(
        f"  {label}, median of {REPEATS}: {statistics.median(ratios):.2f}x; the worker's CPU "
        f"{statistics.median(cpu_us):.1f} µs/event",
        flush=True,
    )


def main() -> None:
    n = int(os.environ.get("N", "400000"))
    faust_n = min(n, int(os.environ.get("FAUST_N", "30000")))
    with bench_broker() as bootstrap:
        if "single" in SHAPES:
            single_events(bootstrap, n, faust_n)
        if "batch" in SHAPES:
            batch_envelopes(bootstrap, 5 * n)  # 5x: a run of a second or two overstates the rate
        if "real" in SHAPES:
            real_events = broker_scenario({"ra": 60.0, "rb": None, "rc": None}, seconds=n // 200)
            print(
                f"single-event messages, product Core + example plan ({len(real_events):,} events)"
            )
            paired_runs(bootstrap, "real", real_events, label="rollguard worker (product Core)")
        if "real-batch" in SHAPES:
            real_events = broker_scenario({"ra": 60.0, "rb": None, "rc": None}, seconds=n // 200)
            print(
                f"1,000-event envelopes, product Core + example plan ({len(real_events):,} events)"
            )
            paired_runs(
                bootstrap,
                "realbatch",
                real_events,
                batch_size=1000,
                label="rollguard worker (product Core)",
            )


def single_events(bootstrap: str, n: int, faust_n: int) -> None:
    events = scenario(rollouts=20, seconds=n // 60 + 1, step_s=1.0)[:n]  # test-core input
    shape(
        bootstrap,
        "single",
        events,
        f"single-event messages ({n:,} events, 1 per message)",
        faust_n=faust_n,
    )


def batch_envelopes(bootstrap: str, nb: int) -> None:
    many = scenario(rollouts=20, seconds=nb // 60 + 1, step_s=1.0)[:nb]
    shape(bootstrap, "batch", many, f"1,000-event batch envelopes ({nb:,} events)", batch_size=1000)


def shape(
    bootstrap: str,
    name: str,
    events: list[Event],
    title: str,
    *,
    batch_size: int = 0,
    faust_n: int = 0,
) -> None:
    """The references over ``events`` as produced (one per message, or ``batch_size`` a
    message), the faust no-op agent over ``faust_n`` of them, then the worker's paired runs."""
    topics = fresh_topics(bootstrap, name)
    produce(bootstrap, topics.telemetry, events, batch_size=batch_size)
    batches = batch_size > 0
    ref = raw_reference(bootstrap, topics.telemetry, len(events), batches=batches)
    print(title)
    row("reference: aiokafka getmany + orjson.loads", ref)
    row(
        "reference, validating: getmany + codec.Decoder",
        raw_reference(bootstrap, topics.telemetry, len(events), batches=batches, validate=True),
        ref,
    )
    if faust_n:
        faust_pairs(bootstrap, name, events[:faust_n], ref)
    paired_runs(bootstrap, name, events, batch_size=batch_size, core_factory=THRESHOLD_CORE)


def faust_pairs(bootstrap: str, name: str, events: list[Event], ref: float) -> None:
    """REPEATS pairs over a backlog of exactly ``events`` (the faust apps read all of it, as
    the worker does its backlog): the do-nothing faust agent, then rollguard installed in a
    faust app (``monitor.faust``, the test core); the median of the adapter / agent ratios."""
    topics = fresh_topics(bootstrap, f"{name}-faust")
    produce(bootstrap, topics.telemetry, events)
    prefix = topics.telemetry.rsplit(".", 1)[0]
    ratios: list[float] = []
    for run in range(REPEATS):
        noop = faust_rate("faust_noop", bootstrap, topics.telemetry, len(events))
        adapter = faust_rate("faust_adapter", bootstrap, prefix, len(events))
        ratios.append(adapter / noop)
        row(f"run {run + 1}: faust do-nothing agent ({len(events):,} messages)", noop, ref)
        row(f"run {run + 1}: rollguard in a faust app, end to end (test core)", adapter, ref)
    print(
        f"  rollguard in a faust app / do-nothing agent, median of {REPEATS}: "
        f"{statistics.median(ratios):.2f}x",
        flush=True,
    )


if __name__ == "__main__":
    main()
