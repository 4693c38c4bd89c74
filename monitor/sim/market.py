"""The shared market: one state per time slice that every rollout and variant sees.

Volatility follows a mean-reverting log process (so calm and nervous minutes alternate by
themselves), order flow follows the intraday curve with self-exciting micro-bursts, prices
walk, and LP health comes from market faults. Baseline and canary draw their orders from the
same slice, so a market-wide shock hits both paths at the same moment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from monitor.sim import model
from monitor.sim.faults import Fault
from monitor.sim.model import FloatArray


@dataclass(frozen=True, slots=True)
class MarketSlice:
    t: float
    """Seconds since the simulation start (slice start)."""
    vol: float
    """Volatility multiplier, 1.0 = calm."""
    rate_mult: float
    """Order arrival multiplier (intraday curve, bursts, volatility)."""
    mids: FloatArray
    """Mid price per symbol."""
    lp_fail: FloatArray
    """Share of requests per LP that fail and must fail over."""
    lp_delay_ms: FloatArray
    """Extra median response time per LP, ms."""


class Market:
    def __init__(self, rng: np.random.Generator, faults: list[Fault], start_ts: float) -> None:
        self._rng = rng
        self._faults = faults
        self._start_ts = start_ts
        self._log_vol = 0.0
        self._burst = 0.0
        self._mids = model.SYMBOL_START_PRICE.copy()
        self._mean_intensity = model.intraday_intensity(start_ts)

    def step(self, t: float, dt: float) -> MarketSlice:
        rng = self._rng
        # mean-reverting log volatility: calm and nervous minutes come and go by themselves
        self._log_vol = 0.995 * self._log_vol + 0.025 * float(rng.standard_normal())
        vol = math.exp(self._log_vol)
        # self-exciting micro-bursts (news ticks, algos piling in) decay within seconds
        self._burst *= 0.8
        if rng.random() < 0.01 * dt:
            self._burst += float(rng.uniform(0.5, 1.5))
        rate = model.intraday_intensity(self._start_ts + t) / self._mean_intensity
        lp_fail = np.zeros(len(model.LPS))
        lp_delay = np.zeros(len(model.LPS))
        for fault in self._faults:
            if fault.intensity(t) == 0.0:
                continue
            if fault.kind == "volatility":
                vol *= fault.multiplier(t)
            elif fault.kind == "burst":
                rate *= fault.multiplier(t)
            elif fault.kind == "lp_outage" and fault.lp is not None:
                lp_fail[model.LPS.index(fault.lp)] += fault.additive(t)
            elif fault.kind == "lp_delay" and fault.lp is not None:
                lp_delay[model.LPS.index(fault.lp)] += fault.additive(t)
        rate *= (1.0 + self._burst) * (1.0 + 0.3 * (vol - 1.0))
        steps = rng.standard_normal(len(self._mids)) * model.SYMBOL_VOL_PER_S * vol * math.sqrt(dt)
        self._mids = self._mids * np.exp(steps)
        return MarketSlice(t, vol, rate, self._mids, np.minimum(lp_fail, 1.0), lp_delay)
