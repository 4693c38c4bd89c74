"""Labelled synthetic operational series for evaluating anomaly scorers (NAB-like).

Each series mimics a kind of metric seen in operations — latency (lognormal, heavy tails),
CPU (bounded, noisy, spiky background), request rates (daily seasonality, Poisson counts),
queue depth (random walk with mean reversion), quantised gauges — at 5-minute or irregular
spacing, with 0–3 labelled anomalies after the first 15% of the series: spikes, dips, level
shifts, variance changes, slow drifts, stuck (flat-lined) values, a lost daily pattern and a
drop to zero. Labels mark the anomaly onset. ``make_corpus(seed)`` is deterministic; use one seed
to develop and another to evaluate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

KINDS = ("spike", "dip", "level_shift", "variance", "drift", "stuck", "season_loss", "outage")
BASES = ("gauss", "ar1", "seasonal", "heavy", "latency", "cpu", "counts", "walk", "quantised")


@dataclass
class Series:
    """One labelled series: timestamps (s), values and anomaly onset indices."""

    name: str
    ts: np.ndarray
    values: np.ndarray
    anomalies: list[int] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)


def _base(kind: str, n: int, rng: np.random.Generator, period: int) -> tuple[np.ndarray, float]:
    """Return a normal-behaviour series and its typical noise scale."""
    t = np.arange(n)
    level = float(rng.uniform(5, 500))
    if kind == "gauss":
        sd = level * rng.uniform(0.02, 0.1)
        return level + rng.normal(0, sd, n), sd
    if kind == "ar1":
        sd = level * rng.uniform(0.02, 0.08)
        phi = rng.uniform(0.5, 0.95)
        e = rng.normal(0, sd * np.sqrt(1 - phi * phi), n)
        y = np.empty(n)
        y[0] = 0.0
        for i in range(1, n):
            y[i] = phi * y[i - 1] + e[i]
        return level + y, sd
    if kind == "seasonal":
        amp = level * rng.uniform(0.2, 0.5)
        sd = level * rng.uniform(0.02, 0.06)
        phase = rng.uniform(0, 2 * np.pi)
        season = amp * np.sin(2 * np.pi * t / period + phase)
        return level + season + rng.normal(0, sd, n), sd
    if kind == "heavy":
        sd = level * rng.uniform(0.02, 0.06)
        return level + sd * rng.standard_t(2.5, n), sd
    if kind == "latency":
        sigma = rng.uniform(0.15, 0.5)
        y = level * np.exp(rng.normal(0, sigma, n))
        return y, level * sigma
    if kind == "cpu":
        base = rng.uniform(10, 60)
        sd = rng.uniform(1, 5)
        y = base + rng.normal(0, sd, n)
        bursts = rng.random(n) < 0.01  # routine short bursts (cron jobs): not anomalies
        y[bursts] += rng.uniform(2, 5, bursts.sum()) * sd
        return np.clip(y, 0, 100), sd
    if kind == "counts":
        lam = rng.uniform(5, 200)
        season = 1 + 0.5 * np.sin(2 * np.pi * t / period + rng.uniform(0, 6))
        return rng.poisson(lam * season).astype(float), np.sqrt(lam)
    if kind == "walk":
        sd = level * 0.01
        y = np.empty(n)
        y[0] = level
        for i in range(1, n):
            y[i] = y[i - 1] + 0.02 * (level - y[i - 1]) + rng.normal(0, sd)
        return y, sd * 5
    # quantised gauge: few distinct values with repeats
    sd = rng.uniform(1, 3)
    return np.round(level + rng.normal(0, sd, n)), sd


def _inject(
    y: np.ndarray, kind: str, at: int, sd: float, rng: np.random.Generator, period: int
) -> None:
    n = len(y)
    mag = rng.uniform(4, 9) * sd
    sign = 1.0 if rng.random() < 0.7 else -1.0
    if kind == "spike":
        width = int(rng.integers(1, 4))
        y[at : at + width] += mag * 1.5 * sign
    elif kind == "dip":
        width = int(rng.integers(3, 15))
        y[at : at + width] -= mag
    elif kind == "level_shift":
        y[at:] += sign * rng.uniform(2.5, 6) * sd
    elif kind == "variance":
        end = min(n, at + int(rng.integers(100, 400)))
        centre = np.median(y[max(0, at - 100) : at])
        y[at:end] = centre + (y[at:end] - centre) * rng.uniform(3, 5)
    elif kind == "drift":
        length = int(rng.integers(80, 250))
        ramp = np.linspace(0, rng.uniform(4, 8) * sd * sign, length)
        end = min(n, at + length)
        y[at:end] += ramp[: end - at]
        y[end:] += ramp[-1]
    elif kind == "stuck":
        end = min(n, at + int(rng.integers(60, 300)))
        y[at:end] = y[at - 1]
    elif kind == "season_loss":
        end = min(n, at + int(rng.integers(period // 2, period * 2)))
        y[at:end] = np.median(y[max(0, at - period) : at]) + rng.normal(0, sd, end - at)
    elif kind == "outage":
        end = min(n, at + int(rng.integers(5, 40)))
        y[at:end] = 0.0


def make_series(name: str, rng: np.random.Generator) -> Series:
    """One random labelled series."""
    n = int(rng.integers(2000, 6000))
    period = 288  # one day of 5-minute points
    base = BASES[int(rng.integers(len(BASES)))]
    y, sd = _base(base, n, rng, period)
    spacing = 300.0
    if rng.random() < 0.3:  # irregular: jittered spacing with a few gaps
        gaps = rng.exponential(spacing, n)
        gaps[rng.random(n) < 0.01] *= 20
        ts = np.cumsum(gaps)
    else:
        ts = spacing * np.arange(n, dtype=float)
    count = int(rng.choice([0, 1, 1, 2, 2, 3]))
    start = int(0.2 * n)
    slots = np.sort(rng.choice(np.arange(start, n - 200, 50), size=count, replace=False))
    kinds: list[str] = []
    for at in slots:
        choices = [k for k in KINDS if k != "season_loss" or base in ("seasonal", "counts")]
        kind = str(rng.choice(choices))
        _inject(y, kind, int(at), sd, rng, period)
        kinds.append(kind)
    if base in {"latency", "counts"}:
        y = np.maximum(y, 0.0)
    return Series(f"{name}-{base}", ts, y, [int(a) for a in slots], kinds)


def make_corpus(seed: int, size: int = 60) -> list[Series]:
    """A deterministic corpus of ``size`` labelled series."""
    rng = np.random.default_rng(seed)
    return [make_series(f"s{i:03d}", rng) for i in range(size)]
