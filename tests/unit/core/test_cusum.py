"""CUSUM thresholds (``method: cusum``) as scenario tables: events per second -> state per second.

The tables check what the bench relies on: the condition turns on within a couple of seconds
of a real onset (so a rule decides at onset + ``for`` + ~2 s), a blip's evidence drains
within ``cap / drift`` of its end (so ``for`` rejects it), too few bad events never alarm,
and a market-wide move (baseline and variant alike) leaves the statistic at zero.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.core.helpers import Run, orders, plan_set, rule, shadow
from topics.errors import ConfigError


def states(run: Run, name: str, ts: list[int] | range) -> str:
    return "".join(run.state_of(name)[t][0] for t in ts)


def errors_rule(**fields: Any) -> dict[str, Any]:
    threshold = {"kind": "vs_baseline", "method": "cusum", "shift": 0.1, "h": 4, "cap": 6}
    return rule(
        "cu", window="30s", min_samples=100, threshold=threshold, **{"for": "20s", **fields}
    )


def error_flow(bad: range, errors: int = 4, base_errors: int = 0, until: int = 120) -> dict:
    """20 canary and 40 baseline orders a second; ``errors`` canary timeouts in ``bad``."""
    return {
        t: orders(t, 20, errors=errors if t in bad else 0)
        + orders(t, 40, variant="baseline", errors=base_errors if t in bad else t % 10 == 0)
        for t in range(until)
    }


def test_condition_on_within_two_seconds_and_decides_at_onset_plus_for(tmp_path: Path) -> None:
    run = Run(plan_set(tmp_path, [errors_rule()])).feed(error_flow(range(60, 120)), until=119)
    # 20 % errors against ~0.25 %: two seconds of them cross h (one second holds ~2.6 nats)
    assert states(run, "cu", range(31, 60)) == "i" * 29
    pending = [t for t, s in run.state_of("cu").items() if s == "pending"]
    assert pending[0] in (60, 61)
    assert run.when("pause") == [pending[0] + 20.0]
    ev = run.commands[0].evidence[0]
    assert ev.for_s == 20.0 and ev.stats["cusum"] >= 4 and ev.stats["p1"] > ev.stats["p0"]


def test_blip_drains_within_cap_over_drift_and_never_acts(tmp_path: Path) -> None:
    run = Run(plan_set(tmp_path, [errors_rule()])).feed(error_flow(range(60, 72)), until=119)
    # 12 s of errors: alarmed from ~61; after 72 the statistic (at its cap, 6 nats) drains at
    # 20 x log(0.9/1.0) ~ -2.1 nats/s: back to zero, and the alert inactive, by ~75
    assert "p" in states(run, "cu", range(60, 72))
    assert states(run, "cu", range(76, 119)) == "i" * 43
    assert run.commands == []


def test_too_few_bad_events_never_alarm(tmp_path: Path) -> None:
    # one error at a time, far apart: each adds log(p1/p0) < h and drains before the next
    flow = error_flow(range(0), until=120)
    for t in range(40, 120, 15):
        flow[t] = orders(t, 20, errors=1) + orders(t, 40, variant="baseline")
    run = Run(plan_set(tmp_path, [errors_rule(**{"for": "0s"})])).feed(flow, until=119)
    assert set(states(run, "cu", range(31, 119))) == {"i"}


def test_market_wide_rise_is_not_the_variants_fault(tmp_path: Path) -> None:
    # both variants from 0.25 % to 2.5 % errors at 60 and to 5 % at 75 (a volatile market
    # ramping up): the reference, the baseline's 30 s window, follows within the shift
    flow = error_flow(range(0))
    for t in range(60, 120):
        step = 1 if t < 75 else 2
        canary = orders(t, 20, errors=1 if step == 2 or t % 2 else 0)
        flow[t] = canary + orders(t, 40, variant="baseline", errors=step)
    run = Run(plan_set(tmp_path, [errors_rule()])).feed(flow, until=119)
    assert run.commands == []
    assert "f" not in states(run, "cu", range(31, 119))


def test_no_reference_no_verdict(tmp_path: Path) -> None:
    flow = {t: orders(t, 20, errors=5) for t in range(60)}  # no baseline variant at all
    run = Run(plan_set(tmp_path, [errors_rule()])).feed(flow, until=59)
    assert run.commands == [] and set(states(run, "cu", range(59))) == {"i"}


def latency_rule() -> dict[str, Any]:
    threshold = {
        "kind": "vs_baseline",
        "method": "cusum",
        "value": 1.3,
        "shift": 0.2,
        "h": 3,
        "cap": 6,
    }
    return rule(
        "lat",
        signal="latency_p50_ms",
        window="10s",
        min_samples=50,
        threshold=threshold,
        action="rollback",
        **{"for": "15s"},
    )


def latency_flow(slow: range, factor: float, until: int = 90) -> dict:
    """10 canary, 20 baseline orders a second at 8-12 ms; canary x ``factor`` in ``slow``."""
    out: dict = {}
    for t in range(until):
        canary = [
            ev
            for i in range(10)
            for ev in orders(
                t, 1, latency=(8 + i * 0.4) * (factor if t in slow else 1.0), tag=f"c{i}-"
            )
        ]
        base = [
            ev
            for i in range(20)
            for ev in orders(t, 1, variant="baseline", latency=8 + i * 0.2, tag=f"b{i}-")
        ]
        out[t] = canary + base
    return out


def test_latency_quantile_shift_against_the_baseline_variant(tmp_path: Path) -> None:
    plans = plan_set(tmp_path, [latency_rule()])
    run = Run(plans).feed(latency_flow(range(40, 90), 1.6), until=89)
    pending = [t for t, s in run.state_of("lat").items() if s == "pending"]
    assert pending[0] in (40, 41) and run.when("rollback") == [pending[0] + 15.0]
    ev = run.commands[0].evidence[0]
    assert ev.stats["limit"] == pytest.approx(1.3 * ev.stats["baseline_quantile"])
    headline, statistics = run.commands[0].reason.split("\n")
    assert headline.startswith("canary p50 latency 15.2 ms vs baseline 9.85 ms: more orders slower")
    assert "than 12.8 ms (1.3 × baseline p50) than the 50 % expected" in headline
    assert headline.endswith("bad for 15 s (rule: 15 s) → rollback")
    assert statistics.startswith("lat: CUSUM of latency_p50_ms of canary 6 nats, alarm at 3")


def test_latency_below_the_ratio_never_alarms(tmp_path: Path) -> None:
    # x1.2 moves the median but stays under 1.3 x the baseline's: H0, the statistic stays low
    run = Run(plan_set(tmp_path, [latency_rule()])).feed(latency_flow(range(40, 90), 1.2), until=89)
    assert run.commands == [] and set(states(run, "lat", range(10, 89))) == {"i"}


def test_absolute_cusum_on_a_rate_that_must_stay_high(tmp_path: Path) -> None:
    # shadow match rate < 0.9: the mismatches are the bad events, p0 = 10 %, p1 = 30 %
    threshold = {"kind": "absolute", "op": "<", "value": 0.9, "method": "cusum", "shift": 0.2}
    threshold["h"] = 3
    r = rule(
        "match",
        signal="shadow_match_rate",
        variant="shadow",
        window="10s",
        min_samples=5,
        threshold=threshold,
        action="freeze",
    )
    flow: dict = {}
    for t in range(60):
        evs = []
        for i in range(10):
            corr = f"{t}-{i}"
            wrong = t >= 30 and i < 5
            evs.append(shadow(t, corr, variant="canary", route="lp1"))
            evs.append(shadow(t, corr, variant="shadow", route="lp2" if wrong else "lp1"))
        flow[t] = evs
    run = Run(plan_set(tmp_path, [r])).feed(flow, until=59)
    fired = run.when("freeze")
    assert fired and 30 <= fired[0] <= 32


@pytest.mark.parametrize(
    ("threshold", "fields", "message"),
    [
        ({"kind": "vs_baseline", "method": "cusum", "h": 3}, {}, "shift"),
        ({"kind": "vs_baseline", "method": "cusum", "shift": 0.1}, {}, "threshold.h"),
        ({"kind": "vs_baseline", "method": "cusum", "shift": 0.1, "h": 3, "cap": 2}, {}, "cap"),
        (
            {"kind": "vs_baseline", "method": "cusum", "shift": 0.1, "h": 3},
            {"signal": "throughput"},
            "signal",
        ),
        (
            {"kind": "vs_baseline", "method": "cusum", "shift": 0.1, "h": 3},
            {"eval_interval": "10s"},
            "eval_interval",
        ),
        ({"kind": "absolute", "method": "cusum", "value": 1.5, "shift": 0.1, "h": 3}, {}, "value"),
    ],
)
def test_config_refuses_a_cusum_it_cannot_run(
    tmp_path: Path, threshold: dict[str, Any], fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        plan_set(tmp_path, [rule("cu", threshold=threshold, **fields)])


def test_cusum_state_survives_export_and_import(tmp_path: Path) -> None:
    plans = plan_set(tmp_path, [errors_rule()])
    flow = error_flow(range(60, 120))
    straight = Run(plans).feed(flow, until=119)
    first = Run(plans).feed({t: v for t, v in flow.items() if t < 70}, until=69)
    state = first.core.export_state("r1")
    resumed = Run(plans)
    resumed.core.import_state("r1", state)
    resumed.feed({t: v for t, v in flow.items() if t >= 70}, until=119, start=70)
    assert resumed.when("pause") == straight.when("pause")


def region_rule() -> dict[str, Any]:
    threshold = {
        "kind": "vs_baseline",
        "against": "rest",
        "method": "cusum",
        "shift": 0.1,
        "h": 4,
        "cap": 5,
    }
    return rule(
        "reg",
        per_segment=["region"],
        window="30s",
        min_samples=100,
        threshold=threshold,
        no_data="ok",
        **{"for": "10s"},
    )


def region_flow(bad: range, regions: tuple[str, ...], errors: int = 4) -> dict:
    """10 canary orders a second in eu, us and apac; ``errors`` in ``regions`` in ``bad``."""
    return {
        t: [
            ev
            for region in ("eu", "us", "apac")
            for ev in orders(
                t,
                10,
                errors=errors if t in bad and region in regions else 0,
                segment={"region": region, "tier": "retail"},
                tag=region,
            )
        ]
        for t in range(90)
    }


def test_against_rest_names_the_one_region_that_regresses(tmp_path: Path) -> None:
    run = Run(plan_set(tmp_path, [region_rule()])).feed(region_flow(range(50, 90), ("apac",)), 89)
    assert len(run.when("pause")) == 1 and 60 <= run.when("pause")[0] <= 62
    assert run.commands[0].evidence[0].segment == {"region": "apac"}


def test_against_rest_ignores_a_change_of_the_whole_variant(tmp_path: Path) -> None:
    # every region at 20 % errors for 20 s: each region's rest rises with it (its last 5 s
    # follow the jump at once; the 30 s window alone would lag it into an alarm)
    flow = region_flow(range(50, 70), ("eu", "us", "apac"), errors=2)
    run = Run(plan_set(tmp_path, [region_rule()])).feed(flow, 89)
    assert run.commands == []
    assert set(states(run, "reg{region=apac}", range(31, 89))) == {"i"}


def test_against_rest_a_whole_variant_jump_seen_first_in_one_region(tmp_path: Path) -> None:
    # every region at 20 % errors from 51 to 70, but apac's first two errors come at 50, a
    # step before the others': judged against its rest's past only, they were ~9 nats (its
    # rest had none) and the 20 s burst held them there, past `for`. A step late, its rest's
    # last steps include 51: two errors against ~5 % are under h.
    flow = region_flow(range(51, 71), ("eu", "us", "apac"), errors=2)
    flow[50] = region_flow(range(50, 51), ("apac",), errors=2)[50]
    run = Run(plan_set(tmp_path, [region_rule()])).feed(flow, 89)
    assert run.commands == []
    assert set(states(run, "reg{region=apac}", range(31, 89))) == {"i"}


def test_against_rest_needs_a_per_segment_rule(tmp_path: Path) -> None:
    bad = region_rule()
    del bad["per_segment"]
    with pytest.raises(ConfigError, match="per_segment"):
        plan_set(tmp_path, [bad])


def test_thin_variant_flow_gives_no_verdict(tmp_path: Path) -> None:
    # 3 canary orders a second (90 in the 30 s window, under min_samples 100), half errors:
    # a blip there would drain too slowly to be told from a regression, so no verdict
    flow = {
        t: orders(t, 3, errors=2 if t >= 40 else 0) + orders(t, 40, variant="baseline")
        for t in range(90)
    }
    run = Run(plan_set(tmp_path, [errors_rule(no_data="ok")])).feed(flow, until=89)
    assert run.commands == [] and set(states(run, "cu", range(89))) == {"i"}
    assert run.core.view("r1")["rules"]["cu"] == "inactive"


def test_gauge_is_the_watched_signal_not_the_statistic(tmp_path: Path) -> None:
    run = Run(plan_set(tmp_path, [errors_rule()])).feed(error_flow(range(60, 120)), until=90)
    gauges = {(g.signal, g.variant): g.value for g in run.core.gauges()}
    # 30 s window, 20 canary orders a second, 4 timeouts each in the last 30 s: 20 %
    assert gauges[("error_rate", "canary")] == pytest.approx(0.2, abs=0.01)
    thresholds = list(run.core.thresholds())
    assert thresholds and all(t.value == 4 for t in thresholds)  # the statistic's h stays there
