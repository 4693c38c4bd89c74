"""``rollguard demo``: the product's main job end to end on a broker it starts itself.

A local Apache Kafka, two real workers in one consumer group, and three rollouts simulated at
once on one market: a healthy canary promoted through every stage (with sign-offs), a canary
with a transient latency blip (ignored) and then a sustained regression (rolled back), and a
shadow whose routing starts to disagree with production (frozen, advisory in shadow). The demo
acts as the orchestrator: it verifies each command with public keys only and moves traffic
on promotion. Its keys are generated for each run (``monitor.demo.keys``). Afterwards
it replays the recorded stream offline through the same core, checks the live decisions
against it, writes a report, and stops everything it started.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from rich.console import Console
from rich.live import Live

from monitor import devbroker
from monitor.core import load_plans
from monitor.demo.control import ControlWatcher, DemoOrchestrator, Seen, write_messages
from monitor.demo.expect import Outcome, judge
from monitor.demo.fleet import Fleet
from monitor.demo.keys import make_demo_keys
from monitor.demo.signals import StopSignals
from monitor.demo.story import (
    PLAN_FILES,
    PREFIX,
    DemoOptions,
    OfflineCore,
    build_simulation,
    write_report,
)
from monitor.demo.view import Board, decision_text
from monitor.sim.generate import Simulation
from monitor.sim.sinks import Pacer, anchored_start, kafka_producer, produce
from topics.admin import create_topics
from topics.config import TopicsConfig
from topics.events import Event
from topics.keys import SigningKey


@dataclass
class DemoResult:
    outcomes: list[Outcome]
    decisions: list[Seen]
    matches_replay: bool
    report: Path
    events: int
    seconds: float

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes) and self.matches_replay


def run_demo(options: DemoOptions, console: Console) -> DemoResult:
    out = options.out_dir
    out.mkdir(parents=True, exist_ok=True)
    plans = load_plans(PLAN_FILES)
    started = time.monotonic()
    with StopSignals().installed() as signals, contextlib.ExitStack() as stack:
        console.print(
            f"[bold]1/5[/bold] starting Apache Kafka {devbroker.KAFKA_VERSION} (local, KRaft) ..."
        )
        broker = devbroker.start()
        stack.callback(broker.stop)
        console.print(
            f"      ready at {broker.bootstrap} in {broker.started_s:.1f} s (pid {broker.pid})"
        )
        topics = TopicsConfig(partitions=4).with_prefix(PREFIX)
        create_topics(broker.bootstrap, topics)
        signals.check()
        keys = make_demo_keys(out / "keys", f"{PREFIX}-*")
        console.print(
            f"      keys: new Ed25519 keys; public ring for workers and orchestrator: {keys.ring}"
        )
        console.print("[bold]2/5[/bold] starting 2 workers (one consumer group) ...")
        fleet = Fleet(
            bootstrap=broker.bootstrap,
            topic_prefix=PREFIX,
            plans=PLAN_FILES,
            signing_key=keys.worker_key,
            trusted_keys=keys.ring,
            workdir=out,
        )
        stack.callback(fleet.stop)
        fleet.start()
        console.print("      " + ", ".join(f"{w.worker_id} on {w.url}" for w in fleet.workers))

        start_ts = anchored_start(options.duration_s, options.speed, time.time())
        sim = build_simulation(options, start_ts)
        # the demo's orchestrator lives on the simulated market's clock: expiry is judged
        # against the event time reached, as a real orchestrator judges it against its own;
        # it holds the public ring only
        watcher = ControlWatcher(
            broker.bootstrap, topics.control, keys.trusted(), clock=lambda: sim.now
        )
        watcher.start()
        stack.callback(watcher.stop)
        plan_of = {f"{PREFIX}-healthy": "demo-canary", f"{PREFIX}-latency": "demo-canary"}
        orchestrator = DemoOrchestrator(plans, plan_of, keys.signers)
        board = Board(
            rollouts=sim.rollout_ids,
            expectations={
                f"{PREFIX}-healthy": "promote to 100 %",
                f"{PREFIX}-latency": "ignore blip, roll back",
                f"{PREFIX}-shadow": "freeze (advisory)",
            },
            event_time_total=options.duration_s,
            start_ts=start_ts,
        )
        console.print(
            f"[bold]3/5[/bold] simulating {options.duration_s / 60:.0f} min of trading at "
            f"{options.speed:g}x speed: 3 rollouts on one market ..."
        )
        producer = kafka_producer(broker.bootstrap)
        stack.callback(producer.close)
        signals.check()
        offline = OfflineCore(plans)
        _drive(
            sim,
            producer,
            topics.telemetry,
            options,
            fleet,
            watcher,
            orchestrator,
            board,
            offline,
            console,
            signals,
            keys.deployer,
        )
        board.phase = "draining"
        _drain(fleet, watcher, board, sim.now, console, signals)
        fleet.check_alive()
        decisions = watcher.all()

    console.print("[bold]4/5[/bold] stopped workers and broker; writing the report ...")
    write_messages(decisions, out / "control-messages.jsonl")
    live_ids = {
        (s.command.command_id, s.command.action) for s in decisions if s.command.issuer == "worker"
    }
    offline_ids = {(c.command_id, c.action) for c in offline.result.commands}
    offline.result.counters = offline.core.counters()
    report = write_report(offline.result, out)
    outcomes = judge(decisions, options.timeline, start_ts, PREFIX)
    return DemoResult(
        outcomes=outcomes,
        decisions=decisions,
        matches_replay=live_ids == offline_ids,
        report=report,
        events=offline.count,
        seconds=time.monotonic() - started,
    )


def _drive(
    sim: Simulation,
    producer: Any,
    topic: str,
    options: DemoOptions,
    fleet: Fleet,
    watcher: ControlWatcher,
    orchestrator: DemoOrchestrator,
    board: Board,
    offline: OfflineCore,
    console: Console,
    signals: StopSignals,
    deployer: SigningKey,
) -> None:
    last_poll = 0.0

    def on_slice(sim: Simulation, events: list[Event]) -> None:
        nonlocal last_poll
        signals.check()
        offline.apply(events)
        fresh = watcher.new()
        _announce(fresh, board, console)
        extra = list(orchestrator.act(sim, fresh))
        for event in extra:
            producer.send(topic, key=event.rollout_id.encode(), value=msgspec.json.encode(event))
        offline.apply(extra)
        board.events_sent = offline.count
        board.event_time_done = sim.now - sim.start_ts
        if time.monotonic() - last_poll > 1.0:
            last_poll = time.monotonic()
            fleet.check_alive()
            for rollout_id in board.rollouts:
                view = fleet.view(rollout_id)
                if view is not None:
                    board.views[rollout_id] = view

    board.phase = "trading"
    with _live(board, console, options.live):
        produce(
            sim,
            producer,
            topic,
            pacer=Pacer(speed=options.speed),
            batch=500,
            on_slice=on_slice,
            producer_name="rollguard-demo",
            signer=deployer,  # the deploy tool reports plan events, signed
        )


def _drain(
    fleet: Fleet,
    watcher: ControlWatcher,
    board: Board,
    last_ts: float,
    console: Console,
    signals: StopSignals,
) -> None:
    """Wait until every worker has applied the whole stream and no decision is in flight."""
    deadline = time.monotonic() + 60
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        signals.check()
        fresh = watcher.new()
        _announce(fresh, board, console)
        if fresh:
            quiet_since = time.monotonic()
        views = {r: fleet.view(r) for r in board.rollouts}
        board.views.update({r: v for r, v in views.items() if v})
        caught_up = all(
            v and float(v.get("event_time") or 0) >= last_ts - 2 for v in views.values()
        )
        if caught_up and time.monotonic() - quiet_since > 3:
            return
        time.sleep(0.3)
    console.print("[yellow]workers did not catch up within 60 s; judging what arrived[/yellow]")


def _announce(fresh: list[Seen], board: Board, console: Console) -> None:
    for seen in fresh:
        board.last[seen.command.rollout_id] = seen
        line = decision_text(seen)
        at = seen.command.issued_at - board.start_ts
        console.print(
            f"  t+{at:4.0f}s {seen.command.rollout_id:>13} {seen.command.stage:<10}",
            line,
            soft_wrap=True,
        )


@contextlib.contextmanager
def _live(board: Board, console: Console, enabled: bool) -> Iterator[None]:
    if not enabled or not console.is_terminal:
        yield
        return
    with Live(get_renderable=board.render, console=console, refresh_per_second=4, transient=True):
        yield


def default_out_dir() -> Path:
    return Path(os.environ.get("ROLLGUARD_DEMO_DIR", "rollguard-out/demo"))
