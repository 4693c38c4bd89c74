"""Each fault does what its ground truth says, to the variant and segment it names only."""

from __future__ import annotations

import numpy as np

from monitor.sim.faults import Fault
from monitor.sim.flow import RolloutSpec
from monitor.sim.generate import Simulation
from monitor.sim.scenarios import Scenario
from topics.events import Event, Order, Shadow, Status

ONSET = 60.0


def _run(*faults: Fault, duration: float = 240.0, seed: int = 1) -> tuple[float, list[Event]]:
    sc = Scenario("t", "test", duration, tuple(faults))
    spec = RolloutSpec("r1", sc, plan="p", traffic_pct=50.0, order_rate=200.0, shadow=True)
    sim = Simulation([spec], seed=seed)
    return sim.start_ts, list(sim.events())


def _orders(
    events: list[Event], start: float, variant: str, after: bool, region: str | None = None
) -> list[Order]:
    """Orders of ``variant`` well before (5 s to onset) or well after (onset + 5 s) the fault."""
    lo, hi = (ONSET + 5.0, float("inf")) if after else (5.0, ONSET)
    return [
        e
        for e in events
        if isinstance(e, Order)
        and e.variant == variant
        and lo <= e.ts - start < hi
        and (region is None or (e.segment or {}).get("region") == region)
    ]


def _p(orders: list[Order], q: float) -> float:
    return float(np.percentile([o.latency_ms or 0.0 for o in orders], q))


def _error_rate(orders: list[Order]) -> float:
    return sum(o.error is not None for o in orders) / len(orders)


def test_canary_latency_regression_hits_canary_only() -> None:
    start, ev = _run(Fault("latency", ONSET, magnitude=2.0))
    for q in (50, 99):
        canary = _p(_orders(ev, start, "canary", True), q) / _p(
            _orders(ev, start, "canary", False), q
        )
        base = _p(_orders(ev, start, "baseline", True), q) / _p(
            _orders(ev, start, "baseline", False), q
        )
        assert 1.7 < canary < 2.3, (q, canary)
        assert 0.85 < base < 1.15, (q, base)


def test_market_volatility_hits_both_variants_alike() -> None:
    start, ev = _run(Fault("volatility", ONSET, magnitude=3.0, target="market"))
    ratios = [
        _p(_orders(ev, start, v, True), 50) / _p(_orders(ev, start, v, False), 50)
        for v in ("baseline", "canary")
    ]
    assert all(r > 1.3 for r in ratios), ratios
    assert abs(ratios[0] - ratios[1]) < 0.1, ratios


def test_segment_fault_stays_in_its_segment() -> None:
    start, ev = _run(Fault("errors", ONSET, magnitude=0.2, segment={"region": "apac"}))
    apac = _error_rate(_orders(ev, start, "canary", True, "apac"))
    eu = _error_rate(_orders(ev, start, "canary", True, "eu"))
    assert apac > 0.15 and eu < 0.02, (apac, eu)
    assert _error_rate(_orders(ev, start, "baseline", True, "apac")) < 0.02


def test_new_reject_cause_appears_on_canary_only() -> None:
    start, ev = _run(Fault("rejects", ONSET, magnitude=0.1, cause="symbol_not_mapped"))
    causes = {
        (o.variant, o.ts - start >= ONSET)
        for o in ev
        if isinstance(o, Order) and o.reject_reason == "symbol_not_mapped"
    }
    assert causes == {("canary", True)}


def test_lp_outage_causes_failovers_on_both_variants_away_from_the_lp() -> None:
    start, ev = _run(Fault("lp_outage", ONSET, magnitude=0.6, target="market", lp="lp_beta"))
    for variant in ("baseline", "canary"):
        after = _orders(ev, start, variant, True)
        failed_over = [o for o in after if o.failover]
        assert len(failed_over) / len(after) > 0.1
        assert all(o.lp != "lp_beta" for o in failed_over)
        assert sum(o.failover for o in _orders(ev, start, variant, False)) <= 2


def test_status_mismatch_leaves_canary_payments_unconfirmed_in_the_back_office() -> None:
    _, ev = _run(Fault("status_mismatch", ONSET, magnitude=0.5))
    final: dict[tuple[str, str], str] = {}
    variant: dict[str, str] = {}
    for e in ev:
        if isinstance(e, Status):
            final[(e.object_id, e.system)] = e.state
            variant[e.object_id] = e.variant
    unconfirmed = {
        oid
        for (oid, system), state in final.items()
        if system == "backoffice" and state != "confirmed"
    }
    assert unconfirmed and {variant[o] for o in unconfirmed} == {"canary"}
    # healthy propagation: every other payment ends confirmed in both systems
    assert all(final[(o, "payments")] == "confirmed" for o in variant)


def test_shadow_mismatch_raises_route_disagreement() -> None:
    start, ev = _run(Fault("shadow_mismatch", ONSET, magnitude=0.2, target="shadow"))
    prod = {e.corr_id: e.route for e in ev if isinstance(e, Shadow) and e.variant == "baseline"}

    def mismatch(after: bool) -> float:
        pairs = [
            (prod[e.corr_id], e.route)
            for e in ev
            if isinstance(e, Shadow)
            and e.variant == "shadow"
            and (e.ts - start >= ONSET + 1) == after
        ]
        return sum(a != b for a, b in pairs) / len(pairs)

    assert mismatch(False) < 0.02
    assert 0.15 < mismatch(True) < 0.25


def test_pnl_drain_turns_canary_pnl_negative() -> None:
    start, ev = _run(Fault("pnl_drain", ONSET, magnitude=2000.0))

    def mean_pnl(variant: str, after: bool) -> float:
        return float(
            np.mean(
                [o.pnl_minor for o in _orders(ev, start, variant, after) if o.pnl_minor is not None]
            )
        )

    assert mean_pnl("canary", False) > -300
    assert mean_pnl("canary", True) < -1500
    assert mean_pnl("baseline", True) > -300


def test_drift_ramps_linearly() -> None:
    fault = Fault("latency", 100.0, magnitude=2.0, ramp_s=200.0)
    assert [fault.multiplier(t) for t in (50.0, 100.0, 200.0, 300.0, 900.0)] == [
        1.0,
        1.0,
        1.5,
        2.0,
        2.0,
    ]
