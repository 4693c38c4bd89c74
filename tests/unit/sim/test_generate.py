"""The simulator's stream: deterministic, ordered, valid, and the twins encode identically."""

from __future__ import annotations

import msgspec
import pytest

from monitor.sim.faults import Fault
from monitor.sim.flow import RolloutSpec
from monitor.sim.generate import Simulation
from monitor.sim.scenarios import SCENARIO_NAMES, Scenario, build_scenario
from topics.codec import Decoder
from topics.events import Metric, Order, Plan, Shadow, Silence, Status

ENC = msgspec.json.Encoder()


# every kind of fault early, so short streams contain silence, mismatches, lost confirmations
EVERYTHING = Scenario(
    "everything",
    "all event kinds early",
    120.0,
    (
        Fault("silence", 20.0, 70.0),
        Fault("shadow_mismatch", 10.0, magnitude=0.3, target="shadow"),
        Fault("status_mismatch", 10.0, magnitude=0.5),
        Fault("rejects", 10.0, magnitude=0.1, cause="symbol_not_mapped"),
        Fault("errors", 10.0, magnitude=0.1),
        Fault("lp_outage", 10.0, magnitude=0.5, target="market", lp="lp_beta"),
    ),
)


def _bytes(sc: Scenario | str, seed: int, *, raw: bool = False, duration: float = 60.0) -> bytes:
    scenario = build_scenario(sc, seed) if isinstance(sc, str) else sc
    spec = RolloutSpec("r1", scenario, plan="p", initial_stage="canary-20")
    sim = Simulation([spec], seed=seed, duration_s=duration, raw=raw, silence_after_s=10.0)
    return b"".join(ENC.encode_lines(s) for s in sim.slices())


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    assert _bytes("healthy", 3) == _bytes("healthy", 3)
    assert _bytes("healthy", 3) != _bytes("healthy", 4)


def test_raw_twins_encode_byte_identical() -> None:
    assert _bytes(EVERYTHING, 1, duration=120.0) == _bytes(EVERYTHING, 1, raw=True, duration=120)


def test_stream_is_in_event_time_order_and_every_event_decodes() -> None:
    data = _bytes(EVERYTHING, 2, duration=120.0)
    decoder = Decoder()
    kinds: set[str] = set()
    last = 0.0
    for line in data.splitlines():
        out = decoder.decode(line)
        assert out.dead == []
        (event,) = out.events
        assert event.ts >= last
        last = event.ts
        kinds.add(type(event).__name__)
    assert kinds == {"Plan", "Order", "Shadow", "Status", "Metric", "Silence"}


def test_every_event_kind_carries_what_the_core_needs() -> None:
    spec = RolloutSpec("r1", build_scenario("healthy"), plan="p")
    events = list(Simulation([spec], seed=0, duration_s=30).events())
    assert isinstance(events[0], Plan) and events[0].action == "registered"
    orders = [e for e in events if isinstance(e, Order)]
    assert {o.variant for o in orders} == {"baseline", "canary"}
    assert all(
        o.segment and set(o.segment) == {"region", "instrument_set", "account_type"} for o in orders
    )
    assert all(o.latency_ms is not None and o.latency_ms > 0 for o in orders)
    filled = [o for o in orders if o.status in ("filled", "partially_filled")]
    assert filled and all(o.pnl_minor is not None and o.currency == "USD" for o in filled)
    shadows = [e for e in events if isinstance(e, Shadow)]
    by_corr: dict[str, set[str]] = {}
    for s in shadows:
        assert s.corr_id is not None
        by_corr.setdefault(s.corr_id, set()).add(s.variant)
    assert all(v == {"baseline", "shadow"} for v in by_corr.values())
    assert {m.name for m in events if isinstance(m, Metric)} == {"md_ticks", "cpu_pct"}
    assert {s.system for s in events if isinstance(s, Status)} == {"payments", "backoffice"}


def test_silence_is_raised_once_at_last_event_plus_the_workers_delay() -> None:
    sc = build_scenario("feed_silent", 0)
    onset = sc.expect.onset_s
    assert onset is not None
    sim = Simulation([RolloutSpec("r1", sc, plan="p")], seed=0, duration_s=onset + 120)
    events = list(sim.events())
    silences = [e for e in events if isinstance(e, Silence)]
    assert [s.variant for s in silences] == ["canary"]
    last_canary = max(e.ts for e in events if e.variant == "canary" and not isinstance(e, Silence))
    assert silences[0].last_event_ts == last_canary
    assert silences[0].ts == pytest.approx(last_canary + 30.0)
    assert last_canary < sim.start_ts + onset + 2.1  # late fills of earlier orders only


def test_traffic_share_follows_set_traffic() -> None:
    spec = RolloutSpec("r1", build_scenario("healthy"), plan="p", traffic_pct=0.0)
    sim = Simulation([spec], seed=0, duration_s=60)
    first = [e for _ in range(20) for e in sim.step()]
    sim.set_traffic("r1", 50.0)
    later = [e for _ in range(20) for e in sim.step()]

    def canary_share(evs: list[object]) -> float:
        orders = [e for e in evs if isinstance(e, Order)]
        return sum(o.variant == "canary" for o in orders) / len(orders)

    assert canary_share(first) == 0.0
    assert 0.4 < canary_share(later) < 0.6
    assert any(isinstance(e, Plan) and e.action == "traffic_share" for e in later)


def test_all_scenarios_build_with_consistent_ground_truth() -> None:
    for name in SCENARIO_NAMES:
        sc = build_scenario(name, 5)
        assert sc == build_scenario(name, 5)
        if sc.expect.action is not None:
            assert sc.expect.onset_s is not None and sc.expect.onset_s < sc.duration_s - 300
            assert sc.expect.sustained
    with pytest.raises(ValueError, match="unknown scenario"):
        build_scenario("nope")


def test_rejects_bad_configuration() -> None:
    spec = RolloutSpec("r1", build_scenario("healthy"))
    with pytest.raises(ValueError, match="unique"):
        Simulation([spec, spec])
    with pytest.raises(ValueError, match="silence_after_s"):
        Simulation([spec], slice_s=5.0, silence_after_s=1.0)
