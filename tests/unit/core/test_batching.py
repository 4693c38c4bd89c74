"""The core decides the same whatever the batching: the worker hands it poll rounds, replay
batches of 256, a test one event at a time, and a batch path that ever groups work (per
rollout, per step) must keep this.

One stream (two rollouts interleaved, one of them regressing; an unregistered third; three
regions against a cap of two kept segments; duplicates and local disorder, some of it late)
is fed one event at a time (the specification) and in batches cut where hypothesis says:
commands, exported state, counters and views must be byte-identical.
"""

from __future__ import annotations

import random
from functools import cache
from pathlib import Path

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core import Core, load_plans
from monitor.core.model import PlanSet
from monitor.sim.synthetic import StreamSpec, generate
from topics.events import Event, Order

ROOT = Path(__file__).resolve().parents[3]


@cache
def _plans() -> PlanSet:
    return load_plans(
        [ROOT / "examples/plans/broker-bridge.yaml", ROOT / "examples/rules/broker-gates.yaml"]
    )


@cache
def _stream() -> tuple[Event, ...]:
    def one(rid: str, seed: int, regress_at: float | None) -> list[Event]:
        spec = StreamSpec(
            rollout_id=rid,
            seconds=120,
            baseline_per_s=24,
            canary_per_s=16,
            shadow_per_s=6,
            seed=seed,
            regress_at=regress_at,
            regress_error_rate=0.4,
            regress_latency_x=4.0,
        )
        return generate(spec)

    a, b = one("ra", 1, 30.0), one("rb", 2, None)
    stray = [msgspec.structs.replace(ev, rollout_id="unregistered") for ev in a[1:400:7]]
    merged = sorted([*a, *b, *stray], key=lambda ev: ev.ts)  # stable: production order kept
    return tuple(merged)


def _perturbed(seed: int) -> list[Event]:
    """Duplicates a few events later, and neighbours swapped (some past the lateness)."""
    rng = random.Random(seed)
    out = list(_stream())
    for i in range(len(out) - 2, 0, -1):
        x = rng.random()
        if x < 0.03:
            out.insert(min(len(out), i + rng.randint(1, 40)), out[i])
        elif x < 0.06:
            j = min(len(out) - 1, i + rng.randint(1, 1500 if x < 0.031 else 60))
            out[i], out[j] = out[j], out[i]
    return out


def _outcome(events: list[Event], cuts: list[int]) -> bytes:
    core = Core(_plans(), max_segments=2)
    commands = []
    start = 0
    for size in cuts:
        commands += core.process(events[start : start + size])
        start += size
    assert start >= len(events)
    enc = msgspec.json.encode
    return b"\n".join(
        [
            *(enc(c) for c in commands),
            *(enc(core.export_state(rid)) for rid in core.rollouts()),
            *(enc(core.view(rid)) for rid in core.rollouts()),
            enc(core.counters()),
            enc(core.unbound()),
        ]
    )


@cache
def _one_by_one(seed: int) -> bytes:
    events = _perturbed(seed)
    return _outcome(events, [1] * len(events))


def test_the_stream_exercises_what_batching_could_change() -> None:
    events = _perturbed(0)
    core = Core(_plans(), max_segments=2)
    commands = core.process(events)
    counts = core.counters()
    assert commands, "the regressing rollout must be acted on"
    for kind in ("late", "duplicates", "segment_overflow", "unbound"):
        assert counts[kind] > 0, kind
    assert sum(isinstance(ev, Order) for ev in events) > len(events) // 2


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 2),
    sizes=st.lists(st.integers(1, 3000), min_size=1, max_size=40),
)
def test_any_batching_gives_byte_identical_decisions_and_state(seed: int, sizes: list[int]) -> None:
    events = _perturbed(seed)
    cuts = list(sizes)
    while sum(cuts) < len(events):
        cuts += sizes
    assert _outcome(events, cuts) == _one_by_one(seed)


def test_one_poll_round_is_one_batch() -> None:
    events = _perturbed(1)
    assert _outcome(events, [len(events)]) == _one_by_one(1)
