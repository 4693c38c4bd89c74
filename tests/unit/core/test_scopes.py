"""Scopes' running sums against their definition: what ``against: rest`` compares with,
kept from step to step (:class:`monitor.core.scopes.Rest`), equals the variant's total minus
the segment subtracted anew from the scopes each step."""

from __future__ import annotations

import random

from monitor.core import buckets as bk
from monitor.core.buckets import Bucket
from monitor.core.scopes import Rest, Scope

STEPS = 6  # the rule's window
RECENT = 3


def _bucket(rng: random.Random, step: int) -> Bucket | None:
    if rng.random() < 0.2:
        return None  # a step without events
    b = Bucket()
    b.c = [rng.randint(0, 9) for _ in range(bk.N_COUNTERS)]
    b.hist = {rng.randint(0, 40): rng.randint(1, 5) for _ in range(rng.randint(0, 4))}
    b.examples = [f"e{step}-{i}" for i in range(rng.randint(0, 2))]
    b.max_ts = float(step) - rng.random()
    return b


def _rest_anew(total: Scope, segment: Scope, recent: range) -> Scope:
    """The definition: total minus segment, window and recent history, from scratch."""
    rest = Scope({STEPS: 0}, None)
    acc = rest.windows[STEPS]
    acc.add(total.windows[STEPS], 1, 0)
    acc.add(segment.windows[STEPS], -1, 0)
    for s in recent:
        b = total.history.get(s)
        if b is not None:
            part = Bucket()
            part.add(b, 1, 0)
            mine = segment.history.get(s)
            if mine is not None:
                part.add(mine, -1, 0)
            rest.history[s] = part
    return rest


def _same(a: Scope, b: Scope) -> None:
    assert a.windows.keys() == b.windows.keys()
    for w, acc in a.windows.items():
        assert acc.to_state() == b.windows[w].to_state()
    assert {s: x.to_state() for s, x in a.history.items()} == {
        s: x.to_state() for s, x in b.history.items()
    }


def test_rest_kept_between_steps_equals_the_rest_subtracted_anew() -> None:
    for seed in range(30):
        rng = random.Random(seed)
        # the total carries a longer latency window, so its history is slimmed past it
        total = Scope({STEPS: 0, 2: bk.HIST, 40: 0}, None)
        segment = Scope({STEPS: 0}, None)
        rest = Rest(STEPS)
        for step in range(1, 120):
            mine = _bucket(rng, step)
            other = _bucket(rng, step)
            merged = None
            if mine is not None or other is not None:
                merged = Bucket()
                for part in (mine, other):
                    if part is not None:
                        merged.add(part)
            total.advance(step, merged)
            segment.advance(step, mine)
            if rng.random() < 0.1:  # a restore: every bucket a new object, same sums
                total = Scope.from_state(total.to_state())
                segment = Scope.from_state(segment.to_state())
            if rng.random() < 0.3:
                continue  # not evaluated this step (eval_interval, another stage)
            recent = range(step - RECENT + 1, step + 1)
            kept = rest.update(total, segment, recent)
            assert kept is not None
            _same(kept, _rest_anew(total, segment, recent))


def test_no_rest_without_the_window_on_both_sides() -> None:
    total, segment = Scope({STEPS: 0}, None), Scope({STEPS + 1: 0}, None)
    assert Rest(STEPS).update(None, segment, range(1)) is None
    assert Rest(STEPS).update(total, segment, range(1)) is None
