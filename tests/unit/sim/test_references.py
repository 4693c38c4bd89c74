"""Reference policies and scoring, on small synthetic streams with known answers."""

from __future__ import annotations

from pathlib import Path

from monitor.sim.bench import Decision, RunResult
from monitor.sim.faults import Fault
from monitor.sim.flow import RolloutSpec
from monitor.sim.generate import Simulation
from monitor.sim.references import FlaggerStyle, KayentaStyle
from monitor.sim.scenarios import Expectation, Scenario
from monitor.sim.scoring import score_run, summarise, totals


def _stream(*faults: Fault, duration: float = 900.0) -> Simulation:
    sc = Scenario("t", "test", duration, tuple(faults))
    spec = RolloutSpec("r1", sc, plan="p", shadow=False, order_rate=80.0)
    return Simulation([spec], seed=4)


def _feed(sim: Simulation, *policies: FlaggerStyle | KayentaStyle) -> None:
    for batch in sim.slices():
        for p in policies:
            p.process(batch)


def test_flagger_style_rolls_back_after_n_failed_intervals() -> None:
    sim = _stream(Fault("latency", 120.0, magnitude=2.5))
    flagger = FlaggerStyle("r1", max_failed=5)
    _feed(sim, flagger)
    (action,) = flagger.actions
    assert action.action == "rollback" and "p99 latency" in action.reason
    # checks at 180, 240, ... fail: the fifth failed check is at 420 s after the start
    assert action.ts - sim.start_ts == 420.0


def test_flagger_style_counts_silence_as_a_failed_check() -> None:
    sim = _stream(Fault("silence", 120.0))
    flagger = FlaggerStyle("r1", max_failed=2)
    _feed(sim, flagger)
    assert flagger.actions and "no data" in flagger.actions[0].reason


def test_kayenta_style_fails_a_clear_regression_quickly_and_not_a_healthy_run() -> None:
    sim = _stream(Fault("errors", 120.0, magnitude=0.08))
    kayenta = KayentaStyle("r1")
    _feed(sim, kayenta)
    assert kayenta.actions and kayenta.actions[0].ts - sim.start_ts <= 240.0
    assert "errors" in kayenta.actions[0].reason
    healthy = KayentaStyle("r1")
    _feed(_stream(duration=600.0), healthy)
    assert healthy.actions == []


def _result(expect: Expectation, core: list[Decision], duration: float = 3600.0) -> RunResult:
    return RunResult(
        "s",
        0,
        "d",
        duration,
        expect,
        decisions={"core": core, "flagger-style": [], "kayenta-style": []},
    )


def test_scoring_detection_delay_action_and_segment() -> None:
    seg = {"region": "apac"}
    expect = Expectation("pause", onset_s=600.0, segment=seg, sustained=True)
    core = [
        Decision(100.0, "hold", rule="early"),
        Decision(650.0, "pause", rule="r", segments=((("region", "apac"),),), for_s=30.0),
    ]
    sc = score_run(_result(expect, core), "core")
    assert (sc.detected, sc.correct, sc.delay_s, sc.over_for_s) == (True, True, 50.0, 20.0)
    assert sc.attributed is True and sc.false_actions == 1
    missed = score_run(_result(expect, []), "flagger-style")
    assert missed.detected is False and missed.delay_s is None


def test_scoring_counts_advisories_only_in_dry_run_plans() -> None:
    expect = Expectation(None)
    advisory = [Decision(10.0, "hold", advisory=True)]
    assert score_run(_result(expect, advisory), "core").false_actions == 0
    dry = _result(expect, advisory)
    dry.dry_run = True
    assert score_run(dry, "core").false_actions == 1


def test_totals_false_actions_per_clean_hour() -> None:
    results = [
        _result(Expectation(None), [Decision(10.0, "pause")], duration=1800.0),
        _result(Expectation(None), [], duration=1800.0),
        _result(Expectation("rollback", onset_s=900.0, sustained=True), []),
    ]
    t = totals(results, "core")
    assert t.false_actions == 1 and t.clean_hours == 1.25
    assert t.missed_sustained == 1 and t.sustained_runs == 1
    assert summarise(results)[("s", "core")].runs == 3


def test_saved_results_load_back_and_render(tmp_path: Path) -> None:
    import msgspec
    from rich.console import Console

    from monitor.sim.bench import load_results
    from monitor.sim.report import plot, print_report

    results = [
        _result(Expectation(None), [Decision(10.0, "pause", rule="r")], duration=1800.0),
        _result(
            Expectation("rollback", onset_s=900.0, sustained=True),
            [Decision(1030.0, "rollback", rule="r", for_s=120.0)],
        ),
    ]
    results[0].scenario, results[1].scenario = "calm", "regression"
    lines = tmp_path / "r.partial.jsonl"
    lines.write_bytes(b"".join(msgspec.json.encode(r) + b"\n" for r in results))
    whole = tmp_path / "r.json"
    whole.write_bytes(msgspec.json.encode(results))
    assert load_results(lines) == load_results(whole) == results
    console = Console(record=True, width=200)
    print_report(results, console)
    text = console.export_text()
    assert "1/1 det, 1 ok" in text and "1 false" in text
    # the criterion beside the delay: the regression decided 10 s after its rule's `for`
    assert "median delay - for" in text and totals(results, "core").median_over_for == 10.0
    assert plot(results, tmp_path / "p.png").stat().st_size > 10_000
