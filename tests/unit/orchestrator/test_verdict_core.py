"""The verdict mapping against the real core's views (``monitor.core.Core.view``), driven by
the lifecycle events the human controls record (``rollguard kill`` → aborted, ...)."""

from __future__ import annotations

from pathlib import Path

from monitor.core import Core, load_plans
from monitor.orchestrators.verdict import verdict_body
from topics.events import Plan, PlanAction

ROOT = Path(__file__).resolve().parents[3]
T0 = 1_800_000_000.0


def test_lifecycle_events_move_the_gates() -> None:
    core = Core(
        load_plans(
            [ROOT / "examples/plans/broker-bridge.yaml", ROOT / "examples/rules/broker-gates.yaml"]
        )
    )

    def step(action: PlanAction, dt: float, **fields: str) -> dict[str, object]:
        event = Plan(v=1, rollout_id="r1", variant="canary", ts=T0 + dt, action=action, **fields)  # type: ignore[arg-type]
        # the core applies an event once the watermark (newest ts - 2 s lateness) passes it
        nudge = Plan(
            v=1, rollout_id="r1", variant="canary", ts=T0 + dt + 5, action="traffic_share",
            traffic_pct=1.0,
        )  # fmt: skip
        core.process([event, nudge])
        view = core.view("r1")
        assert view is not None
        return verdict_body("r1", view)

    registered = step("registered", 0, plan="bridge-routing-v2")
    # warming up is not failing: the rollout goes on, promotion waits
    assert (registered["outcome"], registered["promotable"]) == ("ok", False)
    assert registered["promotion_gaps"]  # no samples yet: the gaps say so
    killed = step("aborted", 10)  # what `rollguard kill` records
    assert (killed["outcome"], killed["status"]) == ("failed", "aborted")
    resumed = step("resumed", 20)  # `rollguard resume`
    assert resumed["outcome"] == "ok" and resumed["status"] == "running"
    assert not resumed["promotable"]
    paused = step("paused", 30)
    assert paused["outcome"] == "inconclusive" and paused["held"]
    completed = step("completed", 40)
    assert (completed["outcome"], completed["promotable"]) == ("ok", True)


def test_an_aborted_rollout_with_healthy_rules_fails_in_the_view_and_at_the_endpoint(
    tmp_path: Path,
) -> None:
    """One vocabulary (``topics.status.Status``): the view used to say ``pass`` here while the
    verdict endpoint said ``failed``."""
    plan = tmp_path / "p.yaml"
    plan.write_text(
        "rule_sets:\n  set:\n    - {name: r, signal: error_rate, window: 1s, action: pause,\n"
        "       threshold: {kind: absolute, op: '>', value: 0.5}, no_data: ok}\n"
        "plans:\n  p:\n    allowed_lateness: 0s\n    rules: [set]\n"
        "    stages: [{name: s1, traffic_pct: 5, min_dwell: 1d}]\n"
    )
    core = Core(load_plans([plan]))
    register = Plan(v=1, rollout_id="r1", variant="canary", ts=T0, action="registered", plan="p")
    running = Plan(v=1, rollout_id="r1", variant="canary", ts=T0 + 3, action="traffic_share")
    core.process([register, running])
    view = core.view("r1")
    assert view is not None and (view["status"], view["verdict"]) == ("running", "pass")
    aborted = Plan(v=1, rollout_id="r1", variant="canary", ts=T0 + 4, action="aborted")
    core.process(
        [aborted, Plan(v=1, rollout_id="r1", variant="canary", ts=T0 + 6, action="traffic_share")]
    )
    view = core.view("r1")
    assert view is not None and view["rules"] == {"r": "inactive"}
    assert (view["status"], view["verdict"]) == ("aborted", "fail")
    assert verdict_body("r1", view)["outcome"] == "failed"
