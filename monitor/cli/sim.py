"""``rollguard simulate`` (the Stage's traffic) and ``rollguard bench detection``."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from monitor.cli.common import (
    BootstrapOption,
    PrefixOption,
    fail,
    group,
    old_name,
    resolve_bootstrap,
)

if TYPE_CHECKING:
    from topics.events import Event

console = Console(stderr=True)


def _truth_table(sim: object) -> Table:
    from monitor.sim.generate import Simulation

    assert isinstance(sim, Simulation)
    tbl = Table(title="ground truth (seconds after start)")
    for col in ("rollout", "scenario", "onset", "expected action", "where", "what"):
        tbl.add_column(col)
    for rid in sim.rollout_ids:
        sc = sim.flow(rid).spec.scenario
        exp = sc.expect
        where = exp.variant or "-"
        if exp.segment:
            where += " " + ",".join(f"{k}={v}" for k, v in exp.segment.items())
        tbl.add_row(
            rid,
            sc.name,
            "-" if exp.onset_s is None else f"{exp.onset_s:.0f}",
            exp.action or "none",
            where,
            sc.description,
        )
    return tbl


def simulate(
    scenario: Annotated[
        list[str] | None,
        typer.Option("--scenario", "-s", help="Scenario per rollout (repeat for several)."),
    ] = None,
    rollouts: Annotated[int, typer.Option(help="Copies of each scenario (ids get -0, -1...).")] = 1,
    seed: Annotated[int, typer.Option(help="Everything random derives from it.")] = 0,
    duration: Annotated[float | None, typer.Option(help="Seconds of event time.")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write JSONL here ('-' = stdout).")
    ] = None,
    kafka: Annotated[bool, typer.Option(help="Produce to the telemetry topic.")] = False,
    bootstrap: BootstrapOption = "",
    topic_prefix: PrefixOption = "rollguard",
    topic: Annotated[str | None, typer.Option(help="Topic (default <prefix>.telemetry).")] = None,
    rate: Annotated[float | None, typer.Option(help="Cap, events per second.")] = None,
    speed: Annotated[
        float | None, typer.Option(help="Replay event time this many times faster than real.")
    ] = None,
    batch: Annotated[int, typer.Option(help="Events per batch envelope; 0 = one per message.")] = 0,
    now: Annotated[
        bool, typer.Option("--now", help="Anchor event time at the wall clock (live runs).")
    ] = False,
    plan_name: Annotated[
        str, typer.Option("--plan-name", help="Plan named in each rollout's registered event.")
    ] = "bridge-routing-v2",
    old_plan_name: Annotated[str | None, old_name("--plan")] = None,
    stage: Annotated[str | None, typer.Option(help="Announce this stage at the start.")] = None,
    traffic: Annotated[float, typer.Option(help="Canary share of orders, percent.")] = 20.0,
    order_rate: Annotated[float, typer.Option(help="Orders per second per rollout.")] = 80.0,
    shadow: Annotated[bool, typer.Option(help="Mirror orders to a shadow path.")] = True,
    demo: Annotated[bool, typer.Option(help="The demo's three rollouts instead.")] = False,
    operator_key: Annotated[
        Path | None,
        typer.Option(
            "--operator-key",
            envvar="ROLLGUARD_OPERATOR_KEY_FILE",
            help="Operator key that signs the stream's plan events (--kafka: workers "
            "dead-letter unsigned ones).",
        ),
    ] = None,
    list_scenarios: Annotated[
        bool, typer.Option("--list", help="List the scenarios and exit.")
    ] = False,
) -> None:
    """Simulate trading telemetry with injected faults, to JSONL or Kafka (deterministic)."""
    from monitor.cli.progress import progress
    from monitor.sim.demo import demo_streams
    from monitor.sim.flow import RolloutSpec
    from monitor.sim.generate import DEFAULT_START_TS, Simulation
    from monitor.sim.scenarios import SCENARIO_NAMES, build_scenario
    from monitor.sim.sinks import Pacer, anchored_start, kafka_producer, produce, write_jsonl

    if list_scenarios:
        tbl = Table(title="scenarios (seed 0)")
        for col in ("name", "expected action", "what"):
            tbl.add_column(col)
        for name in SCENARIO_NAMES:
            sc = build_scenario(name, 0)
            tbl.add_row(name, sc.expect.action or "none", sc.description)
        Console().print(tbl)
        return
    if (out is None) == (not kafka):
        fail("choose one output: --out FILE.jsonl or --kafka")
    names = scenario or ["healthy"]
    try:
        scenarios = [build_scenario(n, seed) for n in names]
    except ValueError as exc:
        fail(str(exc))
    length = duration or max(s.duration_s for s in scenarios)
    start = anchored_start(length, speed, time.time()) if now else DEFAULT_START_TS
    if demo:
        sim = demo_streams(seed=seed, start_ts=start, raw=True, duration_s=length)
    else:
        specs = [
            RolloutSpec(
                f"{sc.name}-{i}" if rollouts > 1 else sc.name,
                sc,
                plan=old_plan_name or plan_name,
                traffic_pct=traffic,
                shadow=shadow,
                order_rate=order_rate,
                initial_stage=stage,
            )
            for sc in scenarios
            for i in range(rollouts)
        ]
        try:
            sim = Simulation(specs, seed=seed, start_ts=start, duration_s=length, raw=True)
        except ValueError as exc:
            fail(str(exc))
    servers = resolve_bootstrap(bootstrap) if kafka else ""  # before any output: fail fast
    console.print(_truth_table(sim))
    started = time.perf_counter()
    if out is not None:
        with progress("simulate (event time)", length) as update:

            def slices() -> Iterator[list[Event]]:
                for events in sim.slices():
                    yield events
                    update(sim.now - sim.start_ts)

            if str(out) == "-":
                n = write_jsonl(slices(), sys.stdout.buffer)
            else:
                with out.open("wb") as fh:
                    n = write_jsonl(slices(), fh)
        elapsed = time.perf_counter() - started
        console.print(
            f"{n:,} events to {out} in {elapsed:.2f} s ({n / max(elapsed, 1e-9):,.0f} events/s)"
        )
        return
    from monitor.orchestrators.keyfiles import operator_key as load_operator_key
    from topics.config import TopicsConfig
    from topics.errors import ConfigError

    try:
        signer = load_operator_key(operator_key)
    except ConfigError as exc:
        fail(f"{exc} (it signs the plan events a live fleet needs)")
    target = topic or TopicsConfig().with_prefix(topic_prefix).telemetry
    pacer = Pacer(speed=speed, rate=rate) if (speed or rate) else None
    try:
        producer = kafka_producer(servers)
        try:
            with progress(f"simulate -> {target}", length) as update:
                stats = produce(
                    sim,
                    producer,
                    target,
                    pacer=pacer,
                    batch=batch,
                    on_slice=lambda s, _: update(s.now - s.start_ts),
                    signer=signer,
                )
        finally:
            producer.close()
    except Exception as exc:  # the Kafka client's many error types: one clear line
        fail(f"producing to {target} at {servers} failed: {type(exc).__name__}: {exc}", code=1)
    console.print(
        f"{stats.events:,} events in {stats.messages:,} messages to {target} in "
        f"{stats.seconds:.1f} s ({stats.events_per_s:,.0f} events/s)"
    )


def bench_detection(
    seeds: Annotated[int, typer.Option(help="Seeds per scenario.")] = 20,
    first_seed: Annotated[
        int, typer.Option(help="First seed (e.g. 20 with --seeds 20: seeds 20-39).")
    ] = 0,
    scenario: Annotated[
        list[str] | None, typer.Option("--scenario", "-s", help="Only these (repeatable).")
    ] = None,
    jobs: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    plan_file: Annotated[
        list[Path] | None,
        typer.Option("--plan", "-p", help="Plan/rule YAML files (default: the examples)."),
    ] = None,
    stage: Annotated[str, typer.Option(help="Stage the canary rollouts run in.")] = "canary-20",
    traffic: Annotated[float, typer.Option(help="Canary share, percent.")] = 20.0,
    order_rate: Annotated[float, typer.Option(help="Orders per second.")] = 40.0,
    plot: Annotated[Path, typer.Option(help="PNG to write.")] = Path(
        "rollguard-out/bench/detection.png"
    ),
    json_out: Annotated[
        Path | None,
        typer.Option("--decisions", help="Write every run's decisions as JSON here."),
    ] = None,
    old_json_out: Annotated[Path | None, old_name("--json")] = None,
    from_file: Annotated[
        Path | None,
        typer.Option("--from", help="Report on results saved with --decisions instead of running."),
    ] = None,
) -> None:
    """Score the plan's decisions on every scenario x seed, beside Flagger- and Kayenta-style."""
    import msgspec

    from monitor.cli.progress import progress
    from monitor.sim.bench import BenchConfig, RunResult, load_results, run_grid
    from monitor.sim.report import plot as write_plot
    from monitor.sim.report import print_report
    from monitor.sim.scenarios import SCENARIO_NAMES

    json_out = json_out or old_json_out
    if from_file is not None:
        saved = load_results(from_file)
        print_report(saved, Console())
        Console().print(f"plot: {write_plot(saved, plot)}")
        return

    names = scenario or list(SCENARIO_NAMES)
    unknown = [n for n in names if n not in SCENARIO_NAMES]
    if unknown:
        fail(f"unknown scenario(s) {unknown}; known: {', '.join(SCENARIO_NAMES)}")
    config = BenchConfig(stage=stage, traffic_pct=traffic, order_rate=order_rate)
    if plan_file:
        config = BenchConfig(
            plan_files=tuple(str(p) for p in plan_file),
            stage=stage,
            traffic_pct=traffic,
            order_rate=order_rate,
        )
    started = time.perf_counter()

    partial = None if json_out is None else json_out.with_suffix(".partial.jsonl")
    if partial is not None:
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(b"")

    total_runs = len(names) * seeds
    with progress("bench detection (runs)", total_runs, counts=True, console=console) as update:

        def each(result: RunResult, done: int, total: int) -> None:
            if partial is not None:  # usable results even if the grid is stopped half-way
                with partial.open("ab") as fh:
                    fh.write(msgspec.json.encode(result) + b"\n")
            core = [d.action for d in result.decisions.get("core", []) if not d.advisory]
            console.print(
                f"[{done}/{total}] {result.scenario} seed {result.seed}: "
                f"core {core[:3] or 'none'} ({result.events:,} events, {result.elapsed_s:.1f} s)",
                highlight=False,
            )
            update(done)

        seed_range = range(first_seed, first_seed + seeds)
        results = run_grid(names, seed_range, config, jobs=jobs, progress=each)
    print_report(results, Console())
    Console().print(f"plot: {write_plot(results, plot)}")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_bytes(msgspec.json.encode(results))
        Console().print(f"decisions: {json_out}")
    Console().print(f"wall time {time.perf_counter() - started:.0f} s")


def register(app: typer.Typer) -> None:
    """Add ``simulate`` and ``bench detection`` to ``app``."""
    app.command("simulate")(simulate)
    bench = group(help="Benchmarks of detection quality.", no_args_is_help=True)
    bench.command("detection")(bench_detection)
    app.add_typer(bench, name="bench")
