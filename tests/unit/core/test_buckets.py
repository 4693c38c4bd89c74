"""Bucket sums and quantiles against their definitions on random data."""

from __future__ import annotations

import math
import random

from monitor.core.buckets import Bucket, bin_value


def _quantile_by_definition(hist: dict[int, int], q: float) -> float | None:
    """The bin of rank floor(q (n - 1)) of the sorted sample the histogram counts."""
    sample = sorted(b for b, k in hist.items() for _ in range(k))
    if not sample:
        return None
    return bin_value(sample[math.floor(q * (len(sample) - 1))])


def test_quantiles_from_either_end_are_the_sample_quantile() -> None:
    rng = random.Random(3)
    for _ in range(500):
        b = Bucket()
        b.hist = {rng.randint(-50, 300): rng.randint(1, 20) for _ in range(rng.randint(0, 40))}
        for q in (0.0, 0.01, 0.25, 0.5, 0.5000001, 0.9, 0.95, 0.99, 1.0, rng.random()):
            assert b.quantile(q) == _quantile_by_definition(b.hist, q)


def test_window_sums_return_to_empty() -> None:
    rng = random.Random(5)
    window, parts = Bucket(), []
    for _ in range(50):
        part = Bucket()
        part.c = [rng.randint(0, 5) for _ in part.c]
        part.hist = {rng.randint(0, 30): rng.randint(1, 4) for _ in range(rng.randint(0, 6))}
        part.reasons = {rng.choice("abc"): rng.randint(1, 3) for _ in range(rng.randint(0, 2))}
        window.add(part)
        parts.append(part)
    for part in parts:
        window.add(part, -1)
    assert window.c == [0] * len(window.c)
    assert window.hist == {} and window.reasons == {}


def test_a_moving_window_reads_the_quantiles_of_its_histogram() -> None:
    """A window keeps its sorted bins between reads (``add`` inserts and removes bins): every
    step's quantiles are the sample quantiles of the histogram it holds then."""
    rng = random.Random(9)
    window, parts = Bucket(), []
    for step in range(400):
        part = Bucket()
        part.hist = {rng.randint(0, 80): rng.randint(1, 4) for _ in range(rng.randint(0, 8))}
        window.add(part)
        parts.append(part)
        if len(parts) > 20:
            window.add(parts.pop(0), -1)
        if step % 3:  # not every step: bins also come and go between reads
            for q in (0.5, 0.95, 0.99):
                assert window.quantile(q) == _quantile_by_definition(window.hist, q)
    for part in parts:
        window.add(part, -1)
    assert window.hist == {} and window.quantile(0.5) is None
