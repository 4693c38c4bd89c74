"""Every rule kind through the Core, as scenario tables: events per second -> state per second."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from detectors import EWMeanVar
from monitor.core import PlanSet
from tests.unit.core.helpers import (
    T0,
    Run,
    metric,
    orders,
    plan_set,
    rule,
    shadow,
    status,
)


def states(run: Run, name: str, ts: list[int]) -> str:
    return "".join(run.state_of(name)[t][0] for t in ts)


def error_flow(bad: range, n: int = 20, errors: int = 5) -> dict[int, list]:
    return {t: orders(t, n, errors=errors if t in bad else 0) for t in range(60)}


def test_blip_shorter_than_for_never_fires(tmp_path: Path) -> None:
    plans = plan_set(tmp_path, [rule(**{"for": "5s"})])
    run = Run(plans).feed(error_flow(range(10, 14)), until=30)
    assert states(run, "r", list(range(8, 16))) == "iippppii"
    assert run.commands == []


def test_sustained_breach_fires_exactly_at_onset_plus_for(tmp_path: Path) -> None:
    plans = plan_set(tmp_path, [rule(**{"for": "5s"})])
    run = Run(plans).feed(error_flow(range(10, 40)), until=30)
    assert states(run, "r", list(range(9, 17))) == "ipppppff"
    assert run.when("pause") == [15.0]
    cmd = run.commands[0]
    ev = cmd.evidence[0]
    assert (ev.rule, ev.signal, ev.variant, ev.observed, ev.threshold) == (
        "r",
        "error_rate",
        "canary",
        0.25,
        0.1,
    )
    assert (ev.window_s, ev.for_s, ev.samples, ev.from_ts, ev.to_ts) == (
        1.0,
        5.0,
        20,
        cmd.issued_at - 1.0,
        cmd.issued_at,
    )
    assert ev.examples and ev.examples[0].startswith("canary-")


def test_keep_firing_for_holds_through_a_short_recovery(tmp_path: Path) -> None:
    plans = plan_set(tmp_path, [rule(**{"for": "2s", "keep_firing_for": "4s"})])
    bad = set(range(10, 15)) | set(range(17, 25))
    run = Run(plans).feed(
        {t: orders(t, 20, errors=5 if t in bad else 0) for t in range(40)}, until=35
    )
    # fires at 12, recovery 15-16 shorter than 4 s keeps it firing, clears 4 s after 25
    assert states(run, "r", list(range(10, 31))) == "ppfffffffffffffffffii"[:21]
    assert run.when("pause") == [12.0]


def test_eval_interval_same_machine_on_a_grid(tmp_path: Path) -> None:
    plans = plan_set(tmp_path, [rule(**{"for": "5s", "eval_interval": "4s"})])
    run = Run(plans).feed(error_flow(range(9, 40)), until=30)
    # evaluated at multiples of 4 s of event time: pending from 12, fires at 20 (not 14)
    assert run.when("pause") == [20.0]


def test_min_samples_gate_and_no_data_hold(tmp_path: Path) -> None:
    plans = plan_set(tmp_path, [rule(**{"min_samples": 10})])
    flow = {t: orders(t, 5, errors=5) for t in range(20)}  # 100 % errors but 5 samples
    run = Run(plans).feed(flow, until=19)
    assert run.commands == []
    view = run.core.view("r1")
    assert view is not None and view["verdict"] == "inconclusive"
    assert any("no verdict" in gap for gap in view["promotion_gaps"])


def silence_plans(tmp_path: Path) -> PlanSet:
    """Freeze when the canary's freshness passes 5 s; no data counts as a breach."""
    return plan_set(
        tmp_path,
        [
            rule(
                "silent",
                signal="freshness_s",
                no_data="fire",
                threshold={"kind": "absolute", "op": ">", "value": 5},
                action="freeze",
            )
        ],
    )


def test_no_data_fire_for_silence(tmp_path: Path) -> None:
    plans = silence_plans(tmp_path)
    flow = {t: orders(t, 3) for t in range(10)}  # canary stops at 9
    run = Run(plans).feed(flow, until=20)
    assert run.when("freeze") == [15.0]  # 15 - 9 = 6 > 5 s


def test_status_reports_do_not_refresh_freshness(tmp_path: Path) -> None:
    plans = silence_plans(tmp_path)
    flow: dict[int, list[Any]] = {t: orders(t, 3) for t in range(10)}  # canary stops at 9
    # the back office goes on confirming the canary's earlier payments: other systems'
    # reports about it, not the canary reporting
    for t in (11, 13):
        flow[t] = [status(t, f"p{t}", "backoffice", "confirmed")]
    run = Run(plans).feed(flow, until=20)
    assert run.when("freeze") == [15.0]


def test_learned_sigma_band(tmp_path: Path) -> None:
    plans = plan_set(
        tmp_path,
        [
            rule(
                "spike",
                signal="reject_rate",
                window="10s",
                min_samples=10,
                action="hold",
                threshold={
                    "kind": "learned",
                    "method": "sigma",
                    "k": 3,
                    "min_delta": 0.02,
                    "min_history": 5,
                    "half_life": "1h",
                },
            )
        ],
    )
    flow = {t: orders(t, 10, rejects=(t % 3 == 0)) for t in range(200)}  # ~3 % rejects
    for t in range(150, 200):
        flow[t] = orders(t, 10, rejects=4)  # 40 %
    run = Run(plans).feed(flow, until=199)
    assert states(run, "spike", [40, 100, 149]) == "iii"  # learned, healthy
    assert run.when("hold") and 150 <= run.when("hold")[0] <= 152
    ev = next(c for c in run.commands if c.action == "hold").evidence[0]
    assert ev.baseline is not None and ev.baseline < 0.06 and ev.threshold is not None
    assert ev.threshold < ev.observed  # type: ignore[operator]


def test_learned_quantile_and_score_methods(tmp_path: Path) -> None:
    base = {"signal": "latency_mean_ms", "window": "5s", "action": "hold", "min_samples": 1}
    plans = plan_set(
        tmp_path,
        [
            rule(
                "q",
                **base,
                threshold={
                    "kind": "learned",
                    "method": "quantile",
                    "q": 0.99,
                    "margin": 0.2,
                    "min_history": 5,
                },
            ),
            rule(
                "s",
                **base,
                threshold={"kind": "learned", "method": "score", "value": 0.95, "min_history": 10},
            ),
        ],
    )
    flow = {t: orders(t, 5, latency=10.0 + (t % 7) * 0.5) for t in range(300)}
    for t in range(250, 300):
        flow[t] = orders(t, 5, latency=40.0 + t % 3)
    run = Run(plans).feed(flow, until=299)
    assert states(run, "q", [200, 249]) == "ii" and states(run, "s", [200, 249]) == "ii"
    assert run.state_of("q")[260] == "firing" and run.state_of("s")[260] == "firing"


def test_vs_baseline_ratio(tmp_path: Path) -> None:
    plans = plan_set(
        tmp_path,
        [
            rule(
                "p99",
                signal="latency_p99_ms",
                window="2s",
                action="rollback",
                **{"for": "3s"},
                threshold={"kind": "vs_baseline", "method": "ratio", "op": ">", "value": 1.3},
            )
        ],
    )
    flow = {}
    for t in range(30):
        lat = 20.0 if t >= 10 else 10.0
        flow[t] = orders(t, 10, latency=lat) + orders(t, 10, variant="baseline", latency=10.0)
    run = Run(plans).feed(flow, until=29)
    assert run.when("rollback") == [13.0]
    ev = run.commands[0].evidence[0]
    assert ev.comparator == "ratio>" and ev.baseline is not None
    assert abs(ev.baseline - 10.0) < 0.2 and abs(ev.stats["ratio"] - 2.0) < 0.05


def test_vs_baseline_difference_needs_both_variants(tmp_path: Path) -> None:
    plans = plan_set(
        tmp_path,
        [
            rule(
                "d",
                threshold={"kind": "vs_baseline", "method": "difference", "op": ">", "value": 0.05},
            )
        ],
    )
    only_canary = {t: orders(t, 10, errors=5) for t in range(10)}
    assert Run(plans).feed(only_canary, until=9).commands == []  # no baseline: no verdict
    both = {t: orders(t, 10, errors=5) + orders(t, 10, variant="baseline") for t in range(10)}
    assert Run(plans).feed(both, until=9).when("pause") == [0.0]


def test_sequential_test_latches_and_is_quiet_when_equal(tmp_path: Path) -> None:
    r = rule(
        "seq",
        min_samples=50,
        threshold={"kind": "vs_baseline", "method": "sequential", "alpha": 0.01},
    )
    plans = plan_set(tmp_path, [r])
    same = {
        t: orders(t, 20, errors=t % 10 == 0) + orders(t, 20, variant="baseline", errors=t % 10 == 5)
        for t in range(300)
    }
    assert Run(plans).feed(same, until=299).commands == []
    worse = {
        t: orders(t, 20, errors=2) + orders(t, 20, variant="baseline", errors=t % 10 == 5)
        for t in range(300)
    }
    run = Run(plans).feed(worse, until=299)
    fired = run.when("pause")
    assert fired and fired[0] < 60
    assert run.commands[0].evidence[0].stats["e_value"] >= 100


def test_burn_rate_needs_long_and_short_window(tmp_path: Path) -> None:
    plans = plan_set(
        tmp_path,
        [
            rule(
                "burn",
                action="rollback",
                threshold={
                    "kind": "burn_rate",
                    "slo": 0.99,
                    "long": "60s",
                    "short": "5s",
                    "factor": 10,
                },
            )
        ],
    )
    # short burst: short window burns hot, the long window does not -> nothing
    burst = {t: orders(t, 10, errors=10 if t in range(100, 104) else 0) for t in range(130)}
    assert Run(plans).feed(burst, until=129).commands == []
    # sustained 20 % errors: long window reaches 10 % (burn 10x of 1 %) ...
    sustained = {t: orders(t, 10, errors=2 if t >= 100 else 0) for t in range(200)}
    run = Run(plans).feed(sustained, until=199)
    assert run.when("rollback") == [130.0]  # 31 bad seconds of 60 -> 10.3 % > 10 %
    # ... and once it stops, the short window clears first and resolves the alert
    stats = run.commands[0].evidence[0].stats
    assert stats["burn_short"] > 10 and stats["rate_long"] > 0.1


def test_status_mismatch_beyond_tolerance(tmp_path: Path) -> None:
    plans = plan_set(
        tmp_path,
        [
            rule(
                "mm",
                signal="status_mismatches",
                no_data="ok",
                action="freeze",
                threshold={"kind": "absolute", "op": ">", "value": 0},
            )
        ],
        status_tolerance="10s",
    )
    flow = {
        1: [status(1, "pay1", "payments", "confirmed"), status(1, "pay1", "crm", "pending")],
        5: [status(5, "pay1", "crm", "confirmed")],  # agreed within tolerance
        20: [status(20, "pay2", "payments", "confirmed"), status(20, "pay2", "crm", "pending")],
    }
    run = Run(plans).feed(flow, until=40)
    assert run.when("freeze") == [30.0]
    assert run.commands[0].evidence[0].examples == ["pay2"]
    # the disagreement had to persist the tolerance: the evidence says so, like a `for`
    assert run.commands[0].evidence[0].for_s == 10.0


def test_shadow_match_rate_with_join_window(tmp_path: Path) -> None:
    plans = plan_set(
        tmp_path,
        [
            rule(
                "match",
                signal="shadow_match_rate",
                variant="shadow",
                window="10s",
                action="freeze",
                threshold={"kind": "absolute", "op": "<", "value": 0.9},
            )
        ],
        shadow_join_window="3s",
    )
    flow: dict[int, list] = {}
    for t in range(40):
        evs = [shadow(t, f"c{t}-{i}", variant="baseline") for i in range(10)]
        for i in range(10):
            if t < 20:
                evs.append(shadow(t, f"c{t}-{i}", variant="shadow"))
            elif i < 3:  # 30 % of shadow decisions never arrive: unmatched after 3 s
                continue
            else:
                evs.append(
                    shadow(t, f"c{t}-{i}", variant="shadow", route="lp1" if i > 4 else "lp2")
                )
        flow[t] = evs
    run = Run(plans).feed(flow, until=39)
    fired = run.when("freeze")
    assert fired and 20 <= fired[0] <= 24
    ev = run.commands[0].evidence[0]
    assert ev.observed is not None and ev.observed < 0.9 and ev.examples


def test_failover_storm_reduces_scope_one_stage(tmp_path: Path) -> None:
    stages = [{"name": "a", "traffic_pct": 1}, {"name": "b", "traffic_pct": 5, "min_dwell": "1d"}]
    plans = plan_set(
        tmp_path,
        [
            rule(
                "fo",
                signal="failovers",
                window="10s",
                no_data="ok",
                action="reduce_scope",
                threshold={"kind": "absolute", "op": ">", "value": 3},
            )
        ],
        stages=stages,
        cooldown="1h",
    )
    flow = {t: orders(t, 5, failovers=2 if t >= 20 else 0) for t in range(30)}
    run = Run(plans).feed(flow, until=29)
    assert [c.action for c in run.commands] == ["promote", "reduce_scope"]
    assert run.when("reduce_scope") == [21.0]
    view = run.core.view("r1")
    assert view is not None and (view["stage"], view["traffic_pct"]) == ("a", 1.0)


def test_pnl_and_drawdown_halt_is_terminal_until_resumed(tmp_path: Path) -> None:
    halt = {"action": "halt", "no_data": "ok"}
    plans = plan_set(
        tmp_path,
        [
            rule(
                "pnl",
                signal="pnl_cum",
                threshold={"kind": "absolute", "op": "<", "value": -1000},
                **halt,
            ),
            rule(
                "dd",
                signal="drawdown",
                threshold={"kind": "absolute", "op": ">", "value": 500},
                **halt,
            ),
        ],
    )
    flow = {t: orders(t, 2, pnl=100) for t in range(10)}  # +1000 peak at t=9
    flow.update({t: orders(t, 2, pnl=-200) for t in range(10, 20)})  # drawdown 200/s
    run = Run(plans).feed(flow, until=19)
    assert run.when("halt") == [12.0]  # drawdown 600 > 500
    assert run.commands[0].rule == "dd"
    view = run.core.view("r1")
    assert view is not None and (view["status"], view["verdict"]) == ("halted", "fail")


def test_per_segment_instances(tmp_path: Path) -> None:
    plans = plan_set(tmp_path, [rule("seg", per_segment=True, **{"for": "2s"})])
    flow = {
        t: orders(t, 10, segment={"region": "eu"}, errors=5 if t >= 5 else 0, tag="eu")
        + orders(t, 10, segment={"region": "us"}, tag="us")
        for t in range(15)
    }
    run = Run(plans).feed(flow, until=14)
    assert run.state_of("seg{region=eu}")[7] == "firing"
    assert run.state_of("seg{region=us}")[7] == "inactive"
    ev = run.commands[0].evidence[0]
    assert ev.segment == {"region": "eu"} and ev.rule == "seg{region=eu}"


def test_segment_filter_and_custom_metric(tmp_path: Path) -> None:
    plans = plan_set(
        tmp_path,
        [
            rule("eu-only", segment={"region": "eu"}),
            rule(
                "cpu",
                signal="metric:cpu_pct",
                window="3s",
                action="hold",
                threshold={"kind": "absolute", "op": ">", "value": 90},
            ),
        ],
    )
    flow = {
        t: orders(t, 10, segment={"region": "us"}, errors=5, tag="us")
        + orders(t, 10, segment={"region": "eu"}, tag="eu")
        + [metric(t, "cpu_pct", 95.0 if t >= 8 else 50.0)]
        for t in range(12)
    }
    run = Run(plans).feed(flow, until=11)
    assert run.state_of("eu-only")[11] == "inactive"  # us errors are outside the filter
    assert run.when("hold") == [10.0]  # 3 s mean: (50 + 95 + 95) / 3 > 90 only at 10


def test_silence_event_moves_event_time_and_fires_the_freshness_rule(tmp_path: Path) -> None:
    from topics.events import Silence

    plans = plan_set(
        tmp_path,
        [
            rule(
                "silent",
                signal="freshness_s",
                no_data="fire",
                threshold={"kind": "absolute", "op": ">", "value": 30},
                action="freeze",
            )
        ],
    )
    core = Run(plans).feed({t: orders(t, 3) for t in range(10)}, until=9).core
    assert (
        core.process([Silence(v=1, rollout_id="r1", variant="canary", ts=T0 + 35, silent_s=26.0)])
        == []
    )  # 35 - 9 = 26 s: not yet
    cmds = core.process(
        [Silence(v=1, rollout_id="r1", variant="canary", ts=T0 + 45, silent_s=36.0)]
    )
    assert [(c.action, c.issued_at - T0) for c in cmds] == [("freeze", 40.0)]
    assert cmds[0].evidence[0].observed == 31.0


def test_comparisons_have_no_reference_at_full_traffic(tmp_path: Path) -> None:
    stages = [
        {"name": "c50", "traffic_pct": 50, "min_dwell": "5s"},
        {"name": "full", "traffic_pct": 100, "min_dwell": "5s"},
    ]
    plans = plan_set(
        tmp_path,
        [
            rule(
                "p99",
                signal="latency_p99_ms",
                action="rollback",
                threshold={"kind": "vs_baseline", "method": "ratio", "op": ">", "value": 1.3},
            )
        ],
        stages=stages,
    )
    flow = {
        t: orders(t, 10) + (orders(t, 10, variant="baseline") if t <= 5 else []) for t in range(15)
    }  # the baseline stops once everything is on the new path
    run = Run(plans).feed(flow, until=14)
    assert [(c.action, c.stage, c.issued_at - T0) for c in run.commands] == [
        ("promote", "c50", 5.0),
        ("promote", "full", 10.0),
    ]
    view = run.core.view("r1")
    assert view is not None and view["status"] == "completed"


def test_silence_counts_in_event_time_from_the_last_event(tmp_path: Path) -> None:
    from topics.events import Silence

    plans = plan_set(
        tmp_path,
        [
            rule(
                "silent",
                signal="freshness_s",
                no_data="fire",
                threshold={"kind": "absolute", "op": ">", "value": 30},
                action="freeze",
            )
        ],
    )
    core = Run(plans).feed({t: orders(t, 3) for t in range(10)}, until=9).core
    # the worker's clock runs 600 s ahead of the producers': its silence, 40 s after the last
    # event, is at event time 9 + 40 = 49, not at 649 (which would make later events late)
    cmds = core.process(
        [
            Silence(
                v=1,
                rollout_id="r1",
                variant="canary",
                ts=T0 + 649,
                silent_s=40.0,
                last_event_ts=T0 + 9,
            )
        ]
    )
    assert [(c.action, c.issued_at - T0) for c in cmds] == [("freeze", 40.0)]
    core.process(orders(50, 3))
    assert core.counters("r1")["late"] == 0


# -- detection-benchmark fixes: scenario tables -------------------------------------------


def burn_rule(**th: object) -> dict:
    threshold = {"kind": "burn_rate", "slo": 0.99, "long": "60s", "short": "5s", "factor": 10}
    threshold.update(th)
    return rule("burn", action="rollback", threshold=threshold)


def test_burn_rate_needs_its_sample_minimums_on_both_windows(tmp_path: Path) -> None:
    # 50 % errors from the first second: a 50x burn, but judged only once the long window
    # holds 300 events (10/s: at t=29) and the short one 40
    mins = {"long_min_samples": 300, "short_min_samples": 40}
    flow = {t: orders(t, 10, errors=5) for t in range(60)}
    run = Run(plan_set(tmp_path, [burn_rule(**mins)])).feed(flow, until=59)
    assert run.when("rollback") == [29.0]
    ev = run.commands[0].evidence[0]
    assert ev.samples == 300 and ev.stats["samples_short"] == 50
    # the short minimum alone: 30 events in 5 s of 6/s never reach it, whatever the burn
    thin = {t: orders(t, 6, errors=3) for t in range(60)}
    run = Run(plan_set(tmp_path, [burn_rule(long_min_samples=10, short_min_samples=31)]))
    assert run.feed(thin, until=59).commands == []
    # without per-window minimums the rule's min_samples applies to both
    run = Run(plan_set(tmp_path, [{**burn_rule(), "min_samples": 31}])).feed(thin, until=59)
    assert run.commands == []


def test_burn_rate_two_errors_in_a_small_window_are_not_a_burn(tmp_path: Path) -> None:
    # the benchmark's false rollback: ~130 events, 2 errors = 1.5 % > 14.4 x 0.1 %
    flow = {t: orders(t, 8, errors=1 if t in (3, 11) else 0) for t in range(40)}
    lax = burn_rule(slo=0.999, factor=14.4, long="1h", short="5m")
    assert (
        Run(plan_set(tmp_path, [{**lax, "min_samples": 100}])).feed(flow, until=39).when("rollback")
    )  # what min_samples 100 alone allowed
    sound = burn_rule(slo=0.99, factor=14.4, long="1h", short="5m", long_min_samples=2000)
    run = Run(plan_set(tmp_path, [{**sound, "min_samples": 100}])).feed(flow, until=39)
    assert run.commands == []


def seq_rule(**fields: object) -> dict:
    threshold = {"kind": "vs_baseline", "method": "sequential", "alpha": 0.001, "over": "window"}
    return rule(
        "seq", window="10s", min_samples=100, threshold=threshold, **{"for": "20s", **fields}
    )


def seq_flow(bad: range, errors: int = 5) -> dict[int, list]:
    return {
        t: orders(t, 20, errors=errors if t in bad else 0)
        + orders(t, 20, variant="baseline", errors=t % 10 == 5)
        for t in range(120)
    }


def test_windowed_sequential_test_blip_shorter_than_for_never_acts(tmp_path: Path) -> None:
    plans = plan_set(tmp_path, [seq_rule()])
    # 25 % errors for 8 s: significant at once, gone from the 10 s window well before 20 s
    run = Run(plans).feed(seq_flow(range(40, 48)), until=119)
    assert "p" in states(run, "seq", list(range(40, 60)))
    assert run.commands == []
    assert states(run, "seq", [70, 119]) == "ii"  # no latch: the blip is forgotten


def test_windowed_sequential_test_catches_a_sustained_regression(tmp_path: Path) -> None:
    plans = plan_set(tmp_path, [seq_rule()])
    run = Run(plans).feed(seq_flow(range(40, 120), errors=2), until=119)  # 10 % vs ~0.5 %
    fired = run.when("pause")
    # onset + for + the seconds the 10 s window needs to hold enough of the regression
    assert len(fired) == 1 and 60 <= fired[0] <= 70
    pending = [t for t, s in run.state_of("seq").items() if s == "pending"]
    assert fired[0] - pending[0] == 20.0
    ev = run.commands[0].evidence[0]
    assert ev.for_s == 20.0 and ev.stats["e_value"] >= 1000 and ev.window_s == 10.0


def test_stage_wide_sequential_test_refuses_for(tmp_path: Path) -> None:
    import pytest

    from topics.errors import ConfigError

    latched = {"kind": "vs_baseline", "method": "sequential", "alpha": 0.001}
    with pytest.raises(ConfigError, match="over: window"):
        plan_set(tmp_path, [rule("seq", threshold=latched, **{"for": "2m"})])


def learned_rule() -> dict:
    return rule(
        "spike",
        signal="reject_rate",
        window="10s",
        min_samples=10,
        action="hold",
        threshold={
            "kind": "learned",
            "method": "sigma",
            "k": 4,
            "min_delta": 0.01,
            "min_history": 5,
            "half_life": "1h",
        },
    )


def threshold_of(run: Run, name: str) -> float:
    return next(s.value for s in run.core.thresholds() if s.rule == name)


def test_learned_baseline_does_not_absorb_a_sustained_rise(tmp_path: Path) -> None:
    plans = plan_set(tmp_path, [learned_rule()])
    # calm: 2-2.5 % rejects (200 orders/s, per 10 s block); band mean + max(4 sigma, 1 %)
    flow = {t: orders(t, 200, rejects=4 + (t // 10) % 2) for t in range(600)}
    run = Run(plans).feed(flow, until=199)
    before = threshold_of(run, "spike")
    assert 0.03 <= before <= 0.04

    # then just under the threshold (inactive, but near the band's edge) with stretches
    # just over it, for minutes: the windows under it must not be learned
    def per_second(t: int, rate: float) -> int:  # every 10 s window holds exactly `rate`
        total = round(rate * 2000)
        return total // 10 + (t % 10 < total % 10)

    for t in range(200, 600):
        rate = before + 0.003 if (t // 10) % 4 == 0 else before - 0.0015
        flow[t] = orders(t, 200, rejects=per_second(t, rate))
    run.feed(flow, until=599, start=200)
    # not absorbed (learning the windows under it drags the threshold up after the rise);
    # a window straddling the onset may be learned once
    assert threshold_of(run, "spike") <= before + 0.002
    assert run.when("hold")  # and it acts


def test_learned_baseline_learns_only_full_windows(tmp_path: Path) -> None:
    plans = plan_set(tmp_path, [learned_rule()])
    # the first seconds alone are wild (a window still filling); the full windows are calm
    flow = {t: orders(t, 50, rejects=25 if t < 2 else 1) for t in range(200)}
    run = Run(plans).feed(flow, until=199)
    ((_, inst),) = run.core._rollouts["r1"].instances.items()
    learner = getattr(inst.memory, "learner", None)
    assert isinstance(learner, EWMeanVar) and learner.mean < 0.03
    assert run.commands == []


def region_flow(eu_errors: int, us_errors: int) -> dict[int, list]:
    return {
        t: orders(t, 20, segment={"region": "eu"}, errors=eu_errors if t >= 5 else 0, tag="eu")
        + orders(t, 20, segment={"region": "us"}, errors=us_errors if t >= 5 else 0, tag="us")
        for t in range(30)
    }


def aggregate_and_lax_region_rules() -> list[dict[str, Any]]:
    """An aggregate error rule that acts, and a per-region one too lax to act."""
    return [
        rule("agg", window="10s", **{"for": "3s"}),
        rule(
            "by-region",
            window="10s",
            per_segment=True,
            threshold={"kind": "absolute", "op": ">", "value": 0.9},
        ),
    ]


def test_aggregate_decision_names_the_segment_driving_it(tmp_path: Path) -> None:
    # the per-region rule is too lax to act (and would be deduped after the aggregate's
    # pause anyway): the aggregate rule's decision must still say where the errors are
    rules = aggregate_and_lax_region_rules()
    run = Run(plan_set(tmp_path, rules)).feed(region_flow(8, 0), until=29)
    (cmd,) = run.commands
    assert cmd.action == "pause" and cmd.rule == "agg"
    assert [(e.rule, e.segment) for e in cmd.evidence] == [
        ("agg", None),
        ("agg", {"region": "eu"}),
    ]
    driver = cmd.evidence[1]
    assert driver.observed is not None and 0.3 < driver.observed <= 0.4
    assert driver.baseline == 0.0 and driver.samples == 200
    assert driver.stats["e_value"] >= 1000 and driver.examples
    assert "driven by region=eu" in cmd.reason


def test_aggregate_decision_names_no_segment_when_all_regress(tmp_path: Path) -> None:
    rules = aggregate_and_lax_region_rules()
    run = Run(plan_set(tmp_path, rules)).feed(region_flow(6, 6), until=29)
    (cmd,) = run.commands
    assert [e.segment for e in cmd.evidence] == [None] and "driven by" not in cmd.reason


def test_per_segment_by_label_pools_segments_per_value(tmp_path: Path) -> None:
    # segments carry region and tier: per_segment: [region] judges each region as a whole
    by_region = rule("by-region", per_segment=["region"], min_samples=20, **{"for": "2s"})
    flow = {
        t: orders(t, 10, segment={"region": "apac", "tier": "pro"}, errors=3, tag="ap")
        + orders(t, 10, segment={"region": "apac", "tier": "retail"}, errors=0, tag="ar")
        + orders(t, 20, segment={"region": "eu", "tier": "pro"}, tag="ep")
        for t in range(10)
    }
    run = Run(plan_set(tmp_path, [by_region])).feed(flow, until=9)
    assert set(run.states[9]) == {"by-region{region=apac}", "by-region{region=eu}"}
    (cmd,) = run.commands  # apac pooled: 3 errors in 20 = 15 % > 10 %
    assert cmd.rule == "by-region{region=apac}" and cmd.evidence[0].samples == 20
    assert cmd.evidence[0].segment == {"region": "apac"}


def test_per_segment_labels_must_be_names(tmp_path: Path) -> None:
    import pytest

    from topics.errors import ConfigError

    with pytest.raises(ConfigError, match="list of segment label names"):
        plan_set(tmp_path, [rule("x", per_segment=[1])])


def test_learned_market_guard_ignores_a_market_wide_rise(tmp_path: Path) -> None:
    guarded = learned_rule()
    guarded["threshold"] = {**guarded["threshold"], "market_guard": True}
    plans = plan_set(tmp_path, [guarded])

    def flow(canary_from_200: int, baseline_from_200: int) -> dict[int, list]:
        return {
            t: orders(t, 100, rejects=2 if t < 200 else canary_from_200)
            + orders(t, 100, variant="baseline", rejects=2 if t < 200 else baseline_from_200)
            for t in range(300)
        }

    # both paths at 8 % (the market): not the canary's fault, no action
    run = Run(plans).feed(flow(8, 8), until=299)
    assert run.commands == []
    ev_stats = run.core._rollouts["r1"].instances[("spike", "")].last
    assert ev_stats is not None and ev_stats.stats["baseline_variant"] == 0.08
    # the canary alone at 8 %: a spike, held
    run = Run(plans).feed(flow(8, 2), until=299)
    assert run.when("hold") and 200 <= run.when("hold")[0] <= 205
