"""The demo's story: its options, its three rollouts on one market, and the same story told
without Kafka: the core in this process fed every event exactly as it was sent. The live demo
must decide exactly what this decides, and its report is drawn from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from monitor.core import Core, PlanSet, load_plans
from monitor.core.replay import Recorder, ReplayResult
from monitor.demo.control import DemoOrchestrator, Seen
from monitor.demo.expect import Outcome, judge
from monitor.sim.demo import demo_scenarios
from monitor.sim.flow import RolloutSpec
from monitor.sim.generate import Simulation
from topics.commands import Command
from topics.events import Event

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


class OfflineCore:
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


def write_report(replayed: ReplayResult, out: Path) -> Path:
    from monitor.operators.report import render_html, write_pngs

    path = out / "report.html"
    path.write_text(render_html(replayed, title="rollguard demo: three rollouts, one market"))
    write_pngs(replayed, out / "plots")
    return path


def run_offline(
    options: DemoOptions, start_ts: float = 1_700_000_000.0
) -> tuple[list[Outcome], Core]:
    """The demo's story without Kafka: the same simulation, core, orchestrator and judge.

    The live demo must decide exactly what this decides (its own check); tests use this to
    keep the story true cheaply.
    """
    outcomes, offline = offline_story(options, start_ts)
    return outcomes, offline.core


def offline_report(options: DemoOptions, start_ts: float = 1_700_000_000.0) -> Path:
    """The demo's report (``options.out_dir``/report.html) from the offline run alone: the
    same events and decisions the live demo's report shows, without Kafka."""
    _, offline = offline_story(options, start_ts)
    offline.result.counters = offline.core.counters()
    options.out_dir.mkdir(parents=True, exist_ok=True)
    return write_report(offline.result, options.out_dir)


def offline_story(options: DemoOptions, start_ts: float) -> tuple[list[Outcome], OfflineCore]:
    plans = load_plans(PLAN_FILES)
    sim = build_simulation(options, start_ts)
    offline = OfflineCore(plans)
    orchestrator = DemoOrchestrator(
        plans, {f"{PREFIX}-healthy": "demo-canary", f"{PREFIX}-latency": "demo-canary"}
    )
    seen: list[Seen] = []
    for events in sim.slices():
        fresh = [Seen("ok:worker", c, 0.0) for c in offline.apply(events)]
        extra = list(orchestrator.act(sim, fresh))
        seen += fresh + [Seen("ok:worker", c, 0.0) for c in offline.apply(extra)]
    return judge(seen, options.timeline, start_ts, PREFIX), offline
