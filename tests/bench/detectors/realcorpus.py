"""An evaluation corpus that is not ours: real series shipped by packages, anomalies injected.

Base series are real measurements bundled inside PyPI packages (nothing is downloaded at run
time, nothing is committed here):

=====================  ======================================================  ============
package                series                                                  spacing
=====================  ======================================================  ============
pmdarima               ``load_taylor``: electricity demand, England and Wales  30 min
                       (daily and weekly patterns); ``load_msft``: Microsoft
                       close (quantised to 1/128 $ in the 1980s: long runs of
                       repeated values) and volume (heavy-tailed); monthly
                       sunspots
vega_datasets          hourly temperatures of Seattle and San Francisco,       1 h
                       2010 (daily pattern, seasonal trend)
river                  daily S&P 500 returns of 3 stocks (heavy tails);         1 day
                       poll-average approval rating (slow moves)
statsmodels            Mauna Loa CO₂ (trend and yearly season)                  1 week
=====================  ======================================================  ============

Derived from them: a *flat* series (Seattle's temperature above 14 °C, clipped at 0: long
runs of exact zeros, like an idle CPU), a *quantised* one (the electricity demand in whole
gigawatts) and a weekly *counts* series (the demand scaled into Poisson counts).

Anomalies of known types are injected at known times into a copy of each series
(``make_real_corpus(seed)``): spikes, dips, level shifts, slow drifts, variance changes,
seasonal breaks (a day that repeats another time of day's pattern, on series with a daily or
weekly pattern) and stuck values. Magnitudes are in units of the series' own local noise (the
robust spread of its first differences around the onset; a drift also spans at least 2-4 times
the local spread of the values, so that it is visible on a smooth series), so every type is
detectable in principle and none is trivial. The same series also appear clean (named
``<base>/clean``): any detection there is a false positive.
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import importlib.resources
from dataclasses import dataclass

import numpy as np

from tests.bench.detectors.corpus import Series

TYPES = ("spike", "dip", "level_shift", "drift", "variance", "season_break", "stuck")
DAY = 86400.0


@dataclass(frozen=True)
class Base:
    """One real series: name, timestamps (s), values, and whether it has a daily/weekly cycle."""

    name: str
    ts: np.ndarray
    values: np.ndarray
    seasonal: bool


def _epoch(day: dt.date) -> float:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()


def _regular(start: float, step: float, values: np.ndarray) -> np.ndarray:
    return start + step * np.arange(len(values), dtype=float)


@functools.cache
def bases() -> tuple[Base, ...]:
    """The real base series (cached: loading takes ~1 s)."""
    import pmdarima.datasets as pm
    import statsmodels.api as sm
    from river import datasets as rd
    from vega_datasets import data as vega

    out: list[Base] = []
    taylor = np.asarray(pm.load_taylor(), dtype=float)  # from Monday 5 June 2000
    t0 = _epoch(dt.date(2000, 6, 5))
    ts_taylor = _regular(t0, 1800.0, taylor)
    out.append(Base("taylor-electricity", ts_taylor, taylor, True))
    out.append(Base("taylor-quantised-gw", ts_taylor, np.round(taylor / 1000.0), True))
    rng = np.random.default_rng(0)
    counts = rng.poisson(taylor / taylor.mean() * 40.0).astype(float)
    out.append(Base("taylor-counts", ts_taylor, counts, True))
    for name, frame in (("seattle-temp", vega.seattle_temps()), ("sf-temp", vega.sf_temps())):
        ts = frame["date"].to_numpy().astype("datetime64[s]").astype("int64").astype(float)
        values = frame["temp"].to_numpy(dtype=float)
        half = len(values) // 2  # two half-years: summer and winter behave differently
        out.append(Base(f"{name}-h1", ts[:half], values[:half], True))
        out.append(Base(f"{name}-h2", ts[half:], values[half:], True))
        if name == "seattle-temp":
            flat = np.maximum(values[:half] - 60.0, 0.0)  # idle most nights: runs of zeros
            out.append(Base("seattle-flat", ts[:half], flat, True))
    msft = pm.load_msft()
    ts_msft = (msft["Date"].astype("datetime64[s]").astype("int64")).to_numpy(dtype=float)
    close = msft["Close"].to_numpy(dtype=float)
    out.append(Base("msft-close-1986", ts_msft[:2500], close[:2500], False))
    out.append(Base("msft-volume", ts_msft[-3000:], msft["Volume"].to_numpy(float)[-3000:], False))
    spots = np.asarray(pm.load_sunspots(), dtype=float)
    out.append(Base("sunspots-monthly", _regular(0.0, 30.44 * DAY, spots), spots, False))
    path = importlib.resources.files("river.datasets") / "sp500.csv.gz"
    with gzip.open(str(path), "rt") as fh:
        header = fh.readline().strip().split(",")
        rows = [line.strip().split(",") for line in fh if line.strip()]
    days = np.array([_epoch(dt.date.fromisoformat(r[0])) for r in rows])
    for sym in ("AAPL", "JPM", "XOM"):
        col = header.index(sym)
        out.append(Base(f"sp500-{sym}", days, np.array([float(r[col]) for r in rows]), False))
    approval = np.array([y for _, y in rd.TrumpApproval()], dtype=float)
    out.append(Base("approval", _regular(0.0, DAY, approval), approval, False))
    co2 = sm.datasets.co2.load_pandas().data["co2"].dropna()
    ts_co2 = co2.index.to_numpy().astype("datetime64[s]").astype("int64").astype(float)
    out.append(Base("co2-weekly", ts_co2, co2.to_numpy(dtype=float), False))
    return tuple(out)


def _noise(y: np.ndarray, at: int) -> float:
    """Local noise: robust SD of first differences in 200 points before ``at``, over √2."""
    d = np.diff(y[max(0, at - 200) : at])
    mad = float(np.median(np.abs(d - np.median(d)))) if len(d) else 0.0
    if mad == 0.0:  # quantised or flat: use the typical non-zero change
        nz = np.abs(d[d != 0])
        mad = float(np.median(nz)) if len(nz) else 1.0
    return 1.4826 * mad / np.sqrt(2.0)


def _period(ts: np.ndarray) -> int:
    """Points per day (at least 2), from the median spacing."""
    return max(2, round(DAY / float(np.median(np.diff(ts)))))


def inject(y: np.ndarray, ts: np.ndarray, kind: str, at: int, rng: np.random.Generator) -> None:
    """Inject one anomaly of ``kind`` starting at index ``at`` (in place)."""
    n, sd = len(y), _noise(y, at)
    sign = 1.0 if rng.random() < 0.6 else -1.0
    if kind == "spike":
        y[at : at + int(rng.integers(1, 3))] += sign * rng.uniform(6.0, 12.0) * sd
    elif kind == "dip":
        y[at : at + int(rng.integers(3, 15))] -= rng.uniform(4.0, 8.0) * sd
    elif kind == "level_shift":
        y[at:] += sign * rng.uniform(4.0, 8.0) * sd
    elif kind == "drift":
        length = int(rng.integers(100, 300))
        # Visible on a plot even where the series is smooth (tiny first differences): at
        # least 2-4 times the local spread of the values themselves.
        recent = y[max(0, at - 200) : at]
        spread = 1.4826 * float(np.median(np.abs(recent - np.median(recent))))
        size = max(rng.uniform(8.0, 15.0) * sd, rng.uniform(2.0, 4.0) * spread)
        ramp = np.linspace(0.0, sign * size, length)
        end = min(n, at + length)
        y[at:end] += ramp[: end - at]
        y[end:] += ramp[-1]
    elif kind == "variance":
        end = min(n, at + int(rng.integers(100, 300)))
        smooth = np.convolve(y, np.ones(5) / 5.0, mode="same")
        y[at:end] = smooth[at:end] + (y[at:end] - smooth[at:end]) * rng.uniform(4.0, 6.0)
    elif kind == "season_break":
        day = _period(ts)
        end = min(n, at + day)
        shift = day // 2  # half a day out of phase: night values in the day, day at night
        y[at:end] = y[at - day + shift : end - day + shift]
    elif kind == "stuck":
        end = min(n, at + int(rng.integers(60, 300)))
        y[at:end] = y[at - 1]
    else:
        raise ValueError(f"unknown anomaly type {kind!r}")


def make_real_corpus(seed: int = 0) -> list[Series]:
    """Every base series clean, and once per applicable type with 1-2 injected anomalies."""
    rng = np.random.default_rng(seed)
    out: list[Series] = []
    for base in bases():
        out.append(Series(f"{base.name}/clean", base.ts, base.values.copy(), [], []))
        n = len(base.values)
        for kind in TYPES:
            if kind == "season_break" and not base.seasonal:
                continue
            count = 1 if n < 2000 else 2
            room = np.arange(int(0.25 * n), n - 350, 50)
            slots = sorted(int(a) for a in rng.choice(room, size=count, replace=False))
            if count == 2 and slots[1] - slots[0] < 0.2 * n:
                slots = slots[:1]  # windows far apart, as in NAB's labels
            y = base.values.copy()
            for at in slots:
                inject(y, base.ts, kind, at, rng)
            out.append(Series(f"{base.name}/{kind}", base.ts, y, slots, [kind] * len(slots)))
    return out
