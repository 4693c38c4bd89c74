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
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import msgspec
from rich.console import Console
from rich.live import Live

from monitor import devbroker
from monitor.core import Core, PlanSet, load_plans
from monitor.core.replay import Recorder, ReplayResult
from monitor.demo.control import ControlWatcher, DemoOrchestrator, Seen, write_messages
from monitor.demo.expect import Outcome, judge
from monitor.demo.fleet import Fleet
from monitor.demo.keys import make_demo_keys
from monitor.demo.view import Board, decision_text
from monitor.sim.demo import demo_scenarios
from monitor.sim.flow import RolloutSpec
from monitor.sim.generate import Simulation
from monitor.sim.sinks import Pacer, anchored_start, kafka_producer, produce
from topics.admin import create_topics
from topics.commands import Command
from topics.config import TopicsConfig
from topics.errors import RollguardError
from topics.events import Event
from topics.keys import SigningKey

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"
PLAN_FILES = [EXAMPLES / "plans" / "demo.yaml", EXAMPLES / "rules" / "broker-gates.yaml"]
PREFIX = "demo"


@dataclass
class DemoOptions:
    out_dir: Path
    speed: float = 16.0
    duration_s: float = 960.0
    order_rate: float = 220.0
    """Orders/s of each canary rollout: at 1 % the canary must still fill the p99 rule's
    100-sample minute (220/s gives ~130)."""
    shadow_order_rate: float = 50.0
    seed: int = 7
    live: bool = True
    timeline: dict[str, float] = field(
        default_factory=lambda: {
            "blip_at_s": 150.0,
            "blip_s": 25.0,
            "regression_at_s": 420.0,
            "shadow_at_s": 300.0,
        }
    )


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


class _Offline:
    """The same core, in this process, fed every event exactly as it was sent: the reference
    the workers' decisions must equal, and the series the report plots."""

    def __init__(self, plans: PlanSet) -> None:
        self.core = Core(plans)
        self.result = ReplayResult()
        self.core.observer = Recorder(self.result, 10.0)
        self.count = 0

    def apply(self, events: list[Event]) -> list[Command]:
        """Feed ``events``; return the commands they made."""
        if not events:
            return []
        self.count += len(events)
        self.result.events += len(events)
        commands = self.core.process(events)
        self.result.commands.extend(commands)
        return commands


def build_simulation(options: DemoOptions, start_ts: float) -> Simulation:
    """The three rollouts on one market (scenarios and ground truth from the simulator)."""
    sc = demo_scenarios(duration_s=options.duration_s, **options.timeline)
    specs = [
        RolloutSpec(
            f"{PREFIX}-healthy",
            sc["healthy"],
            plan="demo-canary",
            traffic_pct=1.0,
            shadow=False,
            order_rate=options.order_rate,
        ),
        RolloutSpec(
            f"{PREFIX}-latency",
            sc["latency"],
            plan="demo-canary",
            traffic_pct=1.0,
            shadow=False,
            order_rate=options.order_rate,
        ),
        RolloutSpec(
            f"{PREFIX}-shadow",
            sc["shadow"],
            plan="demo-shadow",
            canary=False,
            shadow=True,
            shadow_fraction=0.5,
            order_rate=options.shadow_order_rate,
        ),
    ]
    return Simulation(specs, seed=options.seed, start_ts=start_ts, duration_s=options.duration_s)


class DemoInterruptedError(RollguardError):
    """The demo was told to stop (SIGTERM, SIGHUP); everything it started is stopped."""


class _Signalled(BaseException):
    """Raised by the signal handler. A BaseException, as KeyboardInterrupt is, because the
    handler runs wherever the main thread happens to be, and an ``except Exception`` retry
    loop would otherwise swallow it (seen in CI)."""


def _in_kafka_client(frame: FrameType | None) -> bool:
    """Whether the main thread was running kafka-python code when the signal came. Its
    3.x network loop catches BaseException: an exception raised in there was swallowed and
    left ``KafkaProducer()`` polling forever (seen: the SIGTERM test hung 120 s)."""
    while frame is not None:
        if str(frame.f_globals.get("__name__", "")).startswith("kafka."):
            return True
        frame = frame.f_back
    return False


class _StopSignals:
    """SIGTERM and SIGHUP (a closed terminal) stop the demo as Ctrl-C does: the ExitStack
    stops the broker and workers instead of the process dying with them running. The
    signal is also remembered, and the demo's loops check it, so even a handler that fired
    inside a finalizer (where Python prints and drops exceptions) still stops the demo."""

    def __init__(self) -> None:
        self.received: str | None = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:  # a second signal must not interrupt the cleanup
            return
        self.received = signal.Signals(signum).name
        if not _in_kafka_client(frame):  # else the next check() raises, once the call returns
            raise _Signalled(self.received)

    def check(self) -> None:
        if self.received is not None:
            raise DemoInterruptedError(f"stopped by {self.received}")

    @contextlib.contextmanager
    def installed(self) -> Iterator[_StopSignals]:
        previous = {
            sig: signal.signal(sig, self._handle) for sig in (signal.SIGTERM, signal.SIGHUP)
        }
        try:
            yield self
        except _Signalled as exc:
            raise DemoInterruptedError(f"stopped by {exc}") from None
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def run_demo(options: DemoOptions, console: Console) -> DemoResult:
    out = options.out_dir
    out.mkdir(parents=True, exist_ok=True)
    plans = load_plans(PLAN_FILES)
    started = time.monotonic()
    with _StopSignals().installed() as signals, contextlib.ExitStack() as stack:
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
        offline = _Offline(plans)
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
    report = _report(offline.result, out)
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
    offline: _Offline,
    console: Console,
    signals: _StopSignals,
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
    signals: _StopSignals,
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


def _report(replayed: ReplayResult, out: Path) -> Path:
    from monitor.operators.report import render_html, write_pngs

    path = out / "report.html"
    path.write_text(render_html(replayed, title="rollguard demo: three rollouts, one market"))
    write_pngs(replayed, out / "plots")
    return path


def default_out_dir() -> Path:
    return Path(os.environ.get("ROLLGUARD_DEMO_DIR", "rollguard-out/demo"))


def run_offline(
    options: DemoOptions, start_ts: float = 1_700_000_000.0
) -> tuple[list[Outcome], Core]:
    """The demo's story without Kafka: the same simulation, core, orchestrator and judge.

    The live demo must decide exactly what this decides (its own check); tests use this to
    keep the story true cheaply.
    """
    outcomes, offline = _offline_story(options, start_ts)
    return outcomes, offline.core


def offline_report(options: DemoOptions, start_ts: float = 1_700_000_000.0) -> Path:
    """The demo's report (``options.out_dir``/report.html) from the offline run alone: the
    same events and decisions the live demo's report shows, without Kafka."""
    _, offline = _offline_story(options, start_ts)
    offline.result.counters = offline.core.counters()
    options.out_dir.mkdir(parents=True, exist_ok=True)
    return _report(offline.result, options.out_dir)


def _offline_story(options: DemoOptions, start_ts: float) -> tuple[list[Outcome], _Offline]:
    plans = load_plans(PLAN_FILES)
    sim = build_simulation(options, start_ts)
    offline = _Offline(plans)
    orchestrator = DemoOrchestrator(
        plans, {f"{PREFIX}-healthy": "demo-canary", f"{PREFIX}-latency": "demo-canary"}
    )
    seen: list[Seen] = []
    for events in sim.slices():
        fresh = [Seen("ok:worker", c, 0.0) for c in offline.apply(events)]
        extra = list(orchestrator.act(sim, fresh))
        seen += fresh + [Seen("ok:worker", c, 0.0) for c in offline.apply(extra)]
    return judge(seen, options.timeline, start_ts, PREFIX), offline
