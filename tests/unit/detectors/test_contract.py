"""One contract every detector must pass (river's ``checks`` idea): warm-up respected, state
round-trips through JSON to identical future outputs, determinism given a seed, and neither
``state_dict()`` nor ``from_state()`` shares or mutates the caller's objects."""

from __future__ import annotations

import copy
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

import detectors as d
from detectors.errors import DetectorStateError


@dataclass
class Spec:
    """How to drive one detector: build it, feed event i, observe what a caller would see."""

    name: str
    make: Callable[[], Any]
    feed: Callable[[Any, random.Random, int], None]
    observe: Callable[[Any], Any]
    warmup: int  # events during which there must be no verdict
    silent: Callable[[Any], bool]  # "no verdict" check used during warm-up
    ready_by: int = 0  # events after which ``ready`` must be True (default: warmup + 5)


def _value(rng: random.Random, i: int) -> float:
    # Latency-like with a level shift half-way and the odd outlier.
    x = rng.lognormvariate(3.0, 0.4) * (1.5 if i > 150 else 1.0)
    return x * 20 if rng.random() < 0.01 else x


def _ts(i: int) -> float:
    return 10.0 * i + (3.0 if i % 7 == 0 else 0.0)


def _feed_value(det: Any, rng: random.Random, i: int) -> None:
    det.update(_value(rng, i), _ts(i))


def _feed_scorer(det: Any, rng: random.Random, i: int) -> None:
    x = _value(rng, i)
    det.last_score = det.score_one(x, _ts(i))
    det.learn_one(x, _ts(i))


def _feed_step_counts(det: Any, rng: random.Random, i: int) -> None:
    # one evaluation step's (bad, all) counts; the bad-event rate rises half-way
    n = rng.randint(0, 20)
    bad = sum(rng.random() < (0.08 if i > 150 else 0.01) for _ in range(n))
    det.step(bad, n, 0.01, 0.05, h=3.0, cap=6.0)


def _feed_periods(det: Any, rng: random.Random, i: int) -> None:
    # one period's rejection causes on each side; the canary's mix moves half-way
    causes = ["margin", "price", "limit"]
    weights = [0.2, 0.2, 0.6] if i > 150 else [0.5, 0.3, 0.2]
    canary: dict[str, float] = {}
    for c in rng.choices(causes, weights, k=rng.randint(0, 3)):
        canary[c] = canary.get(c, 0.0) + 1
    baseline: dict[str, float] = {}
    for c in rng.choices(causes, [0.5, 0.3, 0.2], k=rng.randint(0, 8)):
        baseline[c] = baseline.get(c, 0.0) + 1
    det.update(canary, baseline)


def _result(det: Any) -> Any:
    return det.result().to_dict()


SPECS = [
    Spec("EWMeanVar", lambda: d.EWMeanVar(half_life=100.0, min_samples=10), _feed_value,
         lambda s: (s.get(), s.var), 10, lambda s: s.get() is None),
    Spec("QuantileSketch", lambda: d.QuantileSketch(min_samples=20), _feed_value,
         lambda s: s.quantiles([0.5, 0.99]) if s.ready else None, 20,
         lambda s: s.get() is None),
    Spec("QuantileSketch-decayed", lambda: d.QuantileSketch(half_life=300.0, max_bins=64),
         _feed_value, lambda s: s.quantiles([0.5, 0.95]) if s.ready else None, 20,
         lambda s: s.get() is None),
    Spec("AnomalyScorer", lambda: d.default_scorer(warmup=40), _feed_scorer,
         lambda s: s.last_score, 40, lambda s: s.last_score == 0.0),
    Spec("EWZScoreScorer", lambda: d.EWZScoreScorer(half_life=500.0, warmup=25), _feed_scorer,
         lambda s: s.last_score, 25, lambda s: s.last_score == 0.0),
    Spec("BernoulliCusum", d.BernoulliCusum, _feed_step_counts,
         lambda s: (s.s, s.alarmed), 0, lambda s: not s.alarmed),
    Spec("SequentialMultinomialTest", lambda: d.SequentialMultinomialTest(alpha=0.01),
         _feed_periods, _result, 0, lambda s: not s.result().significant),
]  # fmt: skip

N_EVENTS = 300


def _run(spec: Spec, det: Any, seed: int, start: int, stop: int) -> list[Any]:
    rng = random.Random(seed * 100_003 + start)
    out = []
    for i in range(start, stop):
        spec.feed(det, rng, i)
        out.append(spec.observe(det))
    return out


@pytest.fixture(params=SPECS, ids=[s.name for s in SPECS])
def spec(request: pytest.FixtureRequest) -> Spec:
    return request.param  # type: ignore[no-any-return]


def test_warmup_is_respected(spec: Spec) -> None:
    det = spec.make()
    assert det.ready if spec.warmup == 0 else not det.ready  # 0: no warm-up at all
    rng = random.Random(0)
    for i in range(spec.warmup - 1):
        spec.feed(det, rng, i)
        assert spec.silent(det), f"{spec.name} gave a verdict during warm-up at event {i}"
    for i in range(spec.warmup - 1, max(spec.ready_by, spec.warmup + 5)):
        spec.feed(det, rng, i)
    assert det.ready


def test_state_round_trip_gives_identical_future(spec: Spec) -> None:
    original = spec.make()
    _run(spec, original, seed=1, start=0, stop=N_EVENTS // 2)
    state = json.loads(json.dumps(original.state_dict(), allow_nan=False))
    restored = type(original).from_state(state)
    assert restored.state_dict() == original.state_dict()
    future_a = _run(spec, original, seed=1, start=N_EVENTS // 2, stop=N_EVENTS)
    future_b = _run(spec, restored, seed=1, start=N_EVENTS // 2, stop=N_EVENTS)
    assert future_a == future_b


def test_deterministic_given_seed(spec: Spec) -> None:
    a = _run(spec, spec.make(), seed=5, start=0, stop=N_EVENTS)
    b = _run(spec, spec.make(), seed=5, start=0, stop=N_EVENTS)
    assert a == b
    c = _run(spec, spec.make(), seed=6, start=0, stop=N_EVENTS)
    assert a != c  # the stream matters (guards against a detector that ignores its input)


def test_state_is_not_shared_or_mutated(spec: Spec) -> None:
    det = spec.make()
    _run(spec, det, seed=2, start=0, stop=N_EVENTS // 2)
    state = det.state_dict()
    frozen = copy.deepcopy(state)
    restored = type(det).from_state(state)
    _run(spec, restored, seed=2, start=N_EVENTS // 2, stop=N_EVENTS)
    assert state == frozen, "from_state() kept references into the caller's state"
    again = det.state_dict()
    _run(spec, det, seed=3, start=N_EVENTS // 2, stop=N_EVENTS)
    assert again == frozen, "state_dict() returned live internals"


def test_from_state_refuses_foreign_state(spec: Spec) -> None:
    det = spec.make()
    state = det.state_dict()
    with pytest.raises(DetectorStateError):
        type(det).from_state({**state, "kind": "SomethingElse"})
    with pytest.raises(DetectorStateError):
        type(det).from_state({**state, "version": 999})


def test_follows_the_shared_protocols(spec: Spec) -> None:
    from detectors import typing as proto

    det = spec.make()
    assert isinstance(det, proto.Stateful)
    kinds = {
        "AnomalyScorer": proto.Scorer,
        "EWZScoreScorer": proto.Scorer,
        "BernoulliCusum": proto.Stateful,  # step(bad, n, p0, p1): counts, not one series
        "SequentialMultinomialTest": proto.Stateful,  # update(canary, baseline): count maps
    }
    assert isinstance(det, kinds.get(spec.name, proto.Statistic))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_ignored(spec: Spec, bad: float) -> None:
    det = spec.make()
    _run(spec, det, seed=4, start=0, stop=N_EVENTS // 2)
    before = det.state_dict()
    if spec.name == "SequentialMultinomialTest":
        with pytest.raises(ValueError):  # counts: anything else is a caller bug, refused
            det.update({"margin": bad}, {"margin": 1.0})
        assert det.state_dict() == before
        return
    if spec.feed is _feed_step_counts:
        det.step(bad, 10, 0.01, 0.05, h=3.0, cap=6.0)
        det.step(1, bad, 0.01, 0.05, h=3.0, cap=6.0)
    elif spec.feed is _feed_scorer:
        det.score_one(bad, 1e9)
        det.learn_one(bad, 1e9)
    else:
        det.update(bad, 1e9)
    assert det.state_dict() == before


def test_every_public_class_is_covered() -> None:
    public = {
        name
        for name in d.__all__
        if isinstance(getattr(d, name), type) and hasattr(getattr(d, name), "state_dict")
    }
    covered = {s.name.split("-")[0] for s in SPECS}
    assert public == covered
