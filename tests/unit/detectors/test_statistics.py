"""Baselines checked against numpy/scipy reference computations on random streams."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

import detectors as d


def _irregular_stream(seed: int, n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ts = np.cumsum(rng.exponential(2.0, n))
    ts[rng.random(n) < 0.1] -= 0.0  # keep order; some identical gaps below
    ts[5::50] = ts[4::50][: len(ts[5::50])]  # identical timestamps happen
    return ts, rng.standard_t(4, n) * 3.0 + 10.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ew_mean_var_matches_weighted_numpy(seed: int) -> None:
    ts, xs = _irregular_stream(seed)
    half_life = 40.0
    ew = d.EWMeanVar(half_life=half_life)
    for t, x in zip(ts, xs, strict=True):
        ew.update(float(x), float(t))
    w = 2.0 ** (-(ts[-1] - ts) / half_life)
    mean = np.sum(w * xs) / np.sum(w)
    var = np.sum(w * (xs - mean) ** 2) / np.sum(w)
    assert ew.mean == pytest.approx(mean, rel=1e-9)
    assert ew.var == pytest.approx(var, rel=1e-9)
    assert ew.weight == pytest.approx(np.sum(w), rel=1e-9)


def test_ew_mean_var_constant_series_has_no_zscore() -> None:
    ew = d.EWMeanVar(half_life=10.0, min_samples=3)
    for i in range(50):
        ew.update(7.0, float(i))
    assert ew.var == 0.0
    assert ew.zscore(8.0) is None


@pytest.mark.parametrize(
    "dist",
    [
        lambda r, n: r.lognormal(0.0, 1.5, n),
        lambda r, n: r.pareto(1.2, n) + 1e-3,
        lambda r, n: r.normal(0.0, 50.0, n),  # negatives
        lambda r, n: np.where(r.random(n) < 0.3, 0.0, r.exponential(5.0, n)),  # zeros
    ],
    ids=["lognormal", "pareto", "normal-with-negatives", "with-zeros"],
)
def test_quantile_sketch_relative_error_bound(dist: object) -> None:
    rng = np.random.default_rng(4)
    xs = dist(rng, 20_000)  # type: ignore[operator]
    alpha = 0.01
    qs = d.QuantileSketch(relative_accuracy=alpha, max_bins=4096)
    for x in xs:
        qs.update(float(x))
    ordered = np.sort(xs)
    for q in (0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999):
        true = ordered[int(q * (len(xs) - 1))]
        got = qs.quantile(q)
        assert abs(got - true) <= alpha * abs(true) + 1e-9, (q, got, true)


def test_quantile_sketch_merge_equals_single_sketch() -> None:
    rng = np.random.default_rng(9)
    xs = rng.lognormal(2.0, 1.0, 5000)
    a, b, whole = d.QuantileSketch(), d.QuantileSketch(), d.QuantileSketch()
    for i, x in enumerate(xs):
        (a if i % 3 else b).update(float(x))
        whole.update(float(x))
    a.merge(b)
    assert a.quantiles([0.5, 0.9, 0.99]) == whole.quantiles([0.5, 0.9, 0.99])


def test_quantile_sketch_decay_forgets_old_regime() -> None:
    qs = d.QuantileSketch(half_life=60.0)
    for i in range(3000):
        qs.update(100.0 if i < 1500 else 10.0, ts=float(i))  # 25 half-lives later
    assert qs.quantile(0.99) == pytest.approx(10.0, rel=0.01)


def test_quantile_sketch_state_stays_small_with_max_bins() -> None:
    import json

    rng = np.random.default_rng(3)
    xs = rng.lognormal(0.0, 1.5, 50_000)
    qs = d.QuantileSketch(max_bins=256)  # spans γ^256 ≈ 166x below the top bucket
    for x in xs:
        qs.update(float(x))
    assert len(json.dumps(qs.state_dict())) < 20_000
    # the collapse only merges the lowest buckets: the upper quantiles keep the guarantee
    ordered = np.sort(xs)
    assert len(qs.state_dict()["pos"]) == 256
    for q in (0.9, 0.99, 0.999):
        true = ordered[int(q * (len(xs) - 1))]
        assert abs(qs.quantile(q) - true) <= 0.01 * true


def test_jensen_shannon_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    cats = ["a", "b", "c", "d"]
    xa = rng.choice(cats, 500, p=[0.4, 0.3, 0.2, 0.1])
    xb = rng.choice(cats, 500, p=[0.25, 0.25, 0.25, 0.25])
    pa = {c: float(np.sum(xa == c)) for c in cats}
    pb = {c: float(np.sum(xb == c)) for c in cats}
    ref = jensenshannon([pa[c] for c in cats], [pb[c] for c in cats], base=2) ** 2
    assert d.jensen_shannon(pa, pb, smoothing=0.0) == pytest.approx(ref, rel=1e-9)
    assert 0.0 <= d.jensen_shannon(pa, pb) <= 1.0
