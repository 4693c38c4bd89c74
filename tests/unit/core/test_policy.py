"""Decision policy branches: precedence, dedupe/cooldown, promotion gates, time box, dry run."""

from __future__ import annotations

from pathlib import Path

import msgspec

from monitor.core import Core
from tests.unit.core.helpers import (
    T0,
    Run,
    lifecycle,
    orders,
    plan_set,
    register,
    rule,
    signoff,
)
from topics.commands import Command, command_id

ABS = {"kind": "absolute", "op": ">", "value": 0.1}


def test_precedence_strongest_action_wins(tmp_path: Path) -> None:
    plans = plan_set(
        tmp_path,
        [
            rule("p", action="pause"),
            rule("h", action="halt"),
            rule("f", action="freeze"),
            rule("ho", action="hold"),
        ],
    )
    run = Run(plans).feed({5: orders(5, 10, errors=5)}, until=8)
    assert [(c.action, c.rule) for c in run.commands] == [("halt", "h")]


def test_escalation_is_immediate_weaker_waits_for_cooldown(tmp_path: Path) -> None:
    plans = plan_set(
        tmp_path,
        [
            rule("hold-fast", action="hold"),
            rule("pause-slow", action="pause", **{"for": "3s"}),
        ],
        cooldown="10s",
    )
    flow = {t: orders(t, 10, errors=5) for t in range(2, 30)}
    run = Run(plans).feed(flow, until=29)
    # hold at 2; pause (stronger) as soon as it fires at 5; then the rollout is paused:
    # the same action is not repeated while it waits for a human.
    assert [(c.action, c.issued_at - T0) for c in run.commands] == [("hold", 2.0), ("pause", 5.0)]
    assert [c.seq for c in run.commands] == [0, 1]


def test_hold_repeats_only_after_cooldown(tmp_path: Path) -> None:
    plans = plan_set(tmp_path, [rule("h", action="hold")], cooldown="10s")
    run = Run(plans).feed({t: orders(t, 10, errors=5) for t in range(30)}, until=29)
    assert run.when("hold") == [0.0, 10.0, 20.0]


def test_pause_blocks_until_resumed_then_decides_again(tmp_path: Path) -> None:
    plans = plan_set(tmp_path, [rule("p", action="pause")])
    flow = {t: orders(t, 10, errors=5) for t in range(20)}
    flow[10] = [*flow[10], lifecycle(10, "resumed")]
    run = Run(plans).feed(flow, until=19)
    assert run.when("pause") == [0.0, 10.0]


def test_promotion_needs_dwell_samples_healthy_rules_and_signoffs(tmp_path: Path) -> None:
    stages = [
        {"name": "c1", "traffic_pct": 1, "min_dwell": "10s", "min_samples": 50},
        {"name": "c5", "traffic_pct": 5, "min_dwell": "5s", "signoffs": ["cto", "coo"]},
        {"name": "all", "traffic_pct": 100},
    ]
    plans = plan_set(tmp_path, [rule("e")], stages=stages)
    flow = {t: orders(t, 2) for t in range(60)}
    flow[30] = [*flow[30], signoff(30, "c5", "cto")]
    flow[40] = [*flow[40], signoff(40, "c5", "coo")]
    run = Run(plans).feed(flow, until=59)
    promotes = [(c.stage, c.issued_at - T0) for c in run.commands if c.action == "promote"]
    # c1: dwell 10 s reached at 10 but 50 samples only at 24 (2 per second from 0)
    assert promotes == [("c1", 24.0), ("c5", 40.0), ("all", 41.0)]
    view = run.core.view("r1")
    assert view is not None and (view["status"], view["verdict"]) == ("completed", "pass")
    assert run.commands[0].evidence and run.commands[0].rule is None


def test_time_box_without_verdict_holds_inconclusive(tmp_path: Path) -> None:
    stages = [
        {"name": "c1", "traffic_pct": 1, "max_duration": "20s"},
        {"name": "c2", "traffic_pct": 5},
    ]
    plans = plan_set(tmp_path, [rule("e", min_samples=100)], stages=stages)
    run = Run(plans).feed({t: orders(t, 2) for t in range(40)}, until=39)
    assert [(c.action, c.issued_at - T0) for c in run.commands] == [("hold", 20.0)]
    assert run.commands[0].reason.startswith("inconclusive")
    assert run.commands[0].evidence[0].rule == "e"
    view = run.core.view("r1")
    assert view is not None and view["status"] == "inconclusive"


def test_dry_run_rule_is_advisory_once_per_episode(tmp_path: Path) -> None:
    plans = plan_set(tmp_path, [rule("dr", action="rollback", dry_run=True)])
    bad = set(range(5, 10)) | set(range(20, 25))
    run = Run(plans).feed(
        {t: orders(t, 10, errors=5 if t in bad else 0) for t in range(30)}, until=29
    )
    assert [(c.action, c.advisory, c.issued_at - T0) for c in run.commands] == [
        ("rollback", True, 5.0),
        ("rollback", True, 20.0),
    ]
    view = run.core.view("r1")
    assert view is not None and view["status"] == "running"


def test_dry_run_rollout_everything_advisory(tmp_path: Path) -> None:
    plans = plan_set(tmp_path, [rule("e", action="rollback")], dry_run=True)
    run = Run(plans).feed({3: orders(3, 10, errors=5)}, until=5)
    assert [(c.action, c.advisory) for c in run.commands] == [("rollback", True)]
    plans2 = plan_set(tmp_path, [rule("e", action="rollback")])
    flow = {0: [lifecycle(0, "dry_run")], 3: orders(3, 10, errors=5)}
    assert [c.advisory for c in Run(plans2).feed(flow, until=5).commands] == [True]


def test_command_fields_and_deterministic_ids(tmp_path: Path) -> None:
    plans = plan_set(tmp_path, [rule("e")])
    cmds = [
        Run(plans, command_ttl_s=60, monitor_version="9.9")
        .feed({3: orders(3, 10, errors=5)}, until=5)
        .commands[0]
        for _ in range(2)
    ]
    a, b = cmds
    assert a == b
    version = plans["p"].version
    assert a.command_id == command_id("r1", "s1", version, "pause", 0)
    assert (a.rule_set_version, a.issued_at, a.expires_at, a.monitor_version) == (
        version,
        T0 + 3,
        T0 + 63,
        "9.9",
    )
    assert (a.key_id, a.signature, a.advisory) == ("", "", False)


def test_orchestrator_stage_change_and_traffic_override(tmp_path: Path) -> None:
    stages = [
        {"name": "a", "traffic_pct": 1, "min_dwell": "1d"},
        {"name": "b", "traffic_pct": 5, "min_dwell": "1d"},
    ]
    plans = plan_set(tmp_path, [rule("e")], stages=stages)
    flow = {
        2: [lifecycle(2, "stage_changed", stage="b")],
        4: [lifecycle(4, "traffic_share", traffic_pct=7.5)],
    }
    run = Run(plans).feed(flow, until=5)
    view = run.core.view("r1")
    assert view is not None and (view["stage"], view["traffic_pct"]) == ("b", 7.5)


def test_unregistered_rollouts_use_default_plan_or_are_counted(tmp_path: Path) -> None:
    plans = plan_set(tmp_path, [rule("e")])
    core = Core(plans)
    assert core.process(orders(1, 10, errors=5, rid="x")) == []
    assert core.counters()["unbound"] == 10 and core.rollouts() == []
    core = Core(plans, default_plan="p")
    core.process(orders(1, 10, errors=5, rid="x"))
    assert [c.action for c in core.advance_watermark(T0 + 2)] == ["pause"]
    core.process([register(rid="y", plan="nope")])
    assert core.counters()["unknown_plan"] == 1


def test_evidence_numbers_are_floats_so_signatures_survive_the_wire(tmp_path: Path) -> None:
    # P&L sums are integers inside the core; encoded as 629 they would decode as 629.0 and
    # change the canonical bytes a signature covers.
    plans = plan_set(
        tmp_path,
        [
            rule(
                "dd",
                signal="drawdown",
                action="halt",
                no_data="ok",
                threshold={"kind": "absolute", "op": ">", "value": 500},
            )
        ],
    )
    flow = {0: orders(0, 1, pnl=1000), 1: orders(1, 1, pnl=-629)}
    cmd = Run(plans).feed(flow, until=3).commands[0]
    ev = cmd.evidence[0]
    assert type(ev.observed) is float and ev.observed == 629.0
    assert all(type(v) is float for v in ev.stats.values())
    wire = msgspec.json.encode(cmd)
    assert msgspec.json.encode(msgspec.json.decode(wire, type=Command)) == wire


def test_hours_window_gates_promotion(tmp_path: Path) -> None:
    # T0 is midnight UTC: inside 00:00-00:01 promotion may happen, inside 12:00-13:00 not yet
    stages = [
        {"name": "off-peak", "traffic_pct": 1, "hours_utc": "00:00-00:01"},
        {"name": "all", "traffic_pct": 100, "min_dwell": "1d"},
    ]
    plans = plan_set(tmp_path, [rule("e")], stages=stages)
    run = Run(plans).feed({t: orders(t, 2) for t in range(5)}, until=4)
    assert run.when("promote") == [0.0]
    late = [
        {"name": "day", "traffic_pct": 1, "hours_utc": "12:00-13:00"},
        {"name": "all", "traffic_pct": 100},
    ]
    plans = plan_set(tmp_path, [rule("e")], stages=late)
    run = Run(plans).feed({t: orders(t, 2) for t in range(5)}, until=4)
    assert run.commands == []
    view = run.core.view("r1")
    assert view is not None and "outside hours 12-13 UTC" in view["promotion_gaps"]


def test_resume_after_inconclusive_allows_promotion_again(tmp_path: Path) -> None:
    stages = [
        {"name": "c1", "traffic_pct": 1, "max_duration": "5s"},
        {"name": "c2", "traffic_pct": 5, "min_dwell": "1d"},
    ]
    plans = plan_set(tmp_path, [rule("e", min_samples=10)], stages=stages)
    flow = {t: orders(t, 2 if t < 10 else 20) for t in range(20)}  # enough samples from 10
    flow[12] = [*flow[12], lifecycle(12, "resumed")]
    run = Run(plans).feed(flow, until=19)
    assert [(c.action, c.issued_at - T0) for c in run.commands] == [
        ("hold", 5.0),
        ("promote", 12.0),
    ]


def test_state_import_errors(tmp_path: Path) -> None:
    import pytest

    from topics.errors import RollguardError

    plans = plan_set(tmp_path, [rule("e")])
    core = Core(plans)
    core.process([register(), *orders(1, 3)])
    state = core.export_state("r1")
    with pytest.raises(RollguardError, match="plan 'nope' is not loaded"):
        Core(plans).import_state("r1", {**state, "plan": "nope"})
    with pytest.raises(RollguardError, match="unknown state version"):
        Core(plans).import_state("r1", {**state, "state_version": 99})


def test_terminal_and_human_states_stop_automatic_decisions(tmp_path: Path) -> None:
    stages = [{"name": "a", "traffic_pct": 1}, {"name": "b", "traffic_pct": 5}]
    plans = plan_set(
        tmp_path,
        [rule("rb", action="rollback"), rule("h", action="halt", **{"for": "5s"})],
        stages=stages,
    )
    bad = {t: orders(t, 10, errors=5) for t in range(2, 20)}
    run = Run(plans).feed(bad, until=19)
    # rollback at 2 makes the rollout terminal: not even the halt firing from 7 is sent
    # (no automatic decision until a human resumes)
    assert [(c.action, c.issued_at - T0) for c in run.commands] == [("rollback", 2.0)]
    assert run.state_of("h")[7] == "firing"
    # a human pause (or abort) stops promotion of a healthy rollout
    for action, status in (("paused", "paused"), ("aborted", "aborted")):
        flow = {0: [lifecycle(0, action)], **{t: orders(t, 5) for t in range(1, 10)}}
        run = Run(plans).feed(flow, until=9)
        view = run.core.view("r1")
        assert run.commands == [] and view is not None and view["status"] == status
