"""The stream is a pure function of seed and specs, and stays byte-identical across refactors.

Detection-benchmark results and the demo's story are recorded against these exact bytes, so a
speed-up must draw the same numbers in the same order. ``DIGESTS`` pins a short digest of the
JSONL of a few shapes that together reach every generation path (all fault kinds, silences,
traffic moves, shadow-only, no-shadow, sub- and multi-second slices, many small rollouts).

When the model changes on purpose, regenerate and commit the new digests with the change that
explains why: ``python -m tests.unit.sim.test_stream_identity``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import msgspec
import pytest

from monitor.sim.demo import demo_streams
from monitor.sim.faults import Fault
from monitor.sim.flow import RolloutSpec
from monitor.sim.generate import Simulation
from monitor.sim.scenarios import SCENARIO_NAMES, Scenario, build_scenario
from topics.events import Event

ENC = msgspec.json.Encoder()

# every variant fault kind, overlapping, one on one segment, one ramped, two silences
VARIANT_FAULTS = Scenario(
    "variant_faults",
    "every variant fault kind early",
    90.0,
    (
        Fault("silence", 20.0, 55.0),
        Fault("silence", 60.0, 75.0, target="shadow"),
        Fault("shadow_mismatch", 10.0, magnitude=0.3, target="shadow"),
        Fault("status_mismatch", 10.0, magnitude=0.5),
        Fault("rejects", 10.0, magnitude=0.1, cause="symbol_not_mapped"),
        Fault("cause_shift", 10.0, magnitude=0.5, cause="max_position"),
        Fault("errors", 10.0, magnitude=0.1, segment={"region": "us"}),
        Fault("pnl_drain", 10.0, magnitude=50.0, target="baseline"),
        Fault("latency", 15.0, 80.0, magnitude=1.5, ramp_s=20.0),
    ),
)
# and the market's (every rollout's market faults act on the one shared market)
EVERYTHING = Scenario(
    "everything",
    "every fault kind early",
    90.0,
    (
        *VARIANT_FAULTS.faults,
        Fault("lp_outage", 10.0, magnitude=0.5, target="market", lp="lp_beta"),
        Fault("lp_delay", 30.0, magnitude=200.0, target="market", lp="lp_gamma"),
        Fault("volatility", 40.0, 60.0, magnitude=2.0, target="market"),
        Fault("burst", 50.0, 55.0, magnitude=2.0, target="market"),
    ),
)


def _everything(slice_s: float, raw: bool) -> Simulation:
    specs = [
        RolloutSpec("r1", EVERYTHING, plan="p", initial_stage="canary-20"),
        RolloutSpec("r2", VARIANT_FAULTS, canary=False, shadow_fraction=0.5),
        RolloutSpec("r3", VARIANT_FAULTS, shadow=False, payment_rate=5.0, order_rate=300.0),
    ]
    return Simulation(specs, seed=11, slice_s=slice_s, silence_after_s=10.0, raw=raw)


def _small_fleet() -> Simulation:
    specs = [
        RolloutSpec(f"s{i}", build_scenario(name, i), plan="p", order_rate=10)
        for i, name in enumerate(SCENARIO_NAMES)
    ]
    return Simulation(specs, seed=5, duration_s=60.0, raw=True)


def _demo() -> Simulation:
    return demo_streams(
        seed=3, duration_s=120.0, blip_at_s=20.0, blip_s=10.0, regression_at_s=60.0, raw=True
    )


def _scenario(name: str, seed: int) -> Simulation:
    spec = RolloutSpec("r1", build_scenario(name, seed), plan="p", order_rate=200)
    return Simulation([spec], seed=seed, duration_s=45.0, silence_after_s=None, raw=True)


# traffic moves after these slices (the orchestrator's job in a live run)
_MOVES = {5: [("r1", 50.0, True)], 30: [("r1", 0.0, False), ("r3", 100.0, True)]}

SHAPES: dict[str, tuple[Callable[[], Simulation], dict[int, list[tuple[str, float, bool]]]]] = {
    "everything 1 s": (lambda: _everything(1.0, raw=True), _MOVES),
    "everything 0.25 s validated": (lambda: _everything(0.25, raw=False), _MOVES),
    "everything 2.5 s": (lambda: _everything(2.5, raw=True), {}),
    "small fleet": (_small_fleet, {}),  # one rollout per scenario
    "demo": (_demo, {}),
    "latency_regression 4": (lambda: _scenario("latency_regression", 4), {}),
    "lp_outage 9": (lambda: _scenario("lp_outage", 9), {}),
}

DIGESTS = {
    "everything 1 s": "1fbe20c087b3f5fe 55100",
    "everything 0.25 s validated": "1ca39f97e13a0e51 52636",
    "everything 2.5 s": "7fbae0243c284b51 57211",
    "small fleet": "eb7efd6b8d52048b 30923",
    "demo": "551289a11817316e 47139",
    "latency_regression 4": "8ab2f8fe86e33b05 15028",
    "lp_outage 9": "c80299cd4bcc081a 14648",
}


def digest(name: str) -> str:
    """First 16 hex digits of the SHA-256 of the shape's JSONL, and its event count."""
    make, moves = SHAPES[name]
    sim = make()
    h = hashlib.sha256()
    n = 0
    for i, batch in enumerate(sim.slices()):
        h.update(ENC.encode_lines(batch))
        n += len(batch)
        for rollout_id, pct, announce in moves.get(i, []):
            sim.set_traffic(rollout_id, pct, announce=announce)
    return f"{h.hexdigest()[:16]} {n}"


@pytest.mark.parametrize("name", SHAPES)
def test_stream_bytes_are_unchanged(name: str) -> None:
    assert digest(name) == DIGESTS[name], "regenerate only for an intended model change"


def _of(sim: Simulation, rollout_id: str) -> list[Event]:
    return [e for e in sim.events() if e.rollout_id == rollout_id]


def test_a_rollouts_stream_does_not_depend_on_the_rollouts_after_it() -> None:
    # each rollout draws from its own generator: batching work across rollouts must not mix
    # their draws (the later rollouts add no market faults, so the market is the same too)
    first = RolloutSpec("a", EVERYTHING, plan="p")
    others = [RolloutSpec(f"b{i}", build_scenario("latency_regression", i)) for i in range(3)]
    alone = _of(Simulation([first], seed=2, duration_s=40.0, raw=True), "a")
    together = _of(Simulation([first, *others], seed=2, duration_s=40.0, raw=True), "a")
    assert ENC.encode_lines(alone) == ENC.encode_lines(together)


def test_a_longer_stream_starts_with_the_shorter_one() -> None:
    # nothing is drawn ahead for the whole duration: slice k is the same whatever comes after
    spec = RolloutSpec("r1", EVERYTHING, plan="p")
    short = Simulation([spec], seed=6, duration_s=30.0, raw=True)
    long = Simulation([spec], seed=6, duration_s=90.0, raw=True)
    for _ in range(30):
        assert ENC.encode_lines(short.step()) == ENC.encode_lines(long.step())


if __name__ == "__main__":
    for shape in SHAPES:
        print(f'    "{shape}": "{digest(shape)}",')
