"""The simulated trading venue: instruments, liquidity providers, segments and their numbers.

Everything here is a constant table or a pure function of event time; the random draws live
in :mod:`monitor.sim.generate`. Numbers are plausible for a retail/pro FX-and-CFD broker
routing to a handful of LPs: single-digit to tens of milliseconds per LP, a heavy tail, about
1 % rejects and a few tenths of a percent timeouts/disconnects on a normal day.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# --- liquidity providers -------------------------------------------------------------------
LPS: Final = ("lp_alpha", "lp_beta", "lp_gamma", "lp_delta")
LP_VENUE: Final = ("ld4", "ny4", "ld4", "ty3")
LP_MEDIAN_MS: Final = np.array([6.0, 9.0, 14.0, 11.0])
"""Median LP round trip (ack/fill), ms."""
LP_SIGMA: Final = np.array([0.35, 0.45, 0.55, 0.45])
"""Log-normal shape per LP: slower LPs are also less predictable."""
TAIL_PROB: Final = 0.01
"""Share of orders that hit a Pareto tail (GC pauses, LP throttling, retransmits)."""
TAIL_ALPHA: Final = 1.7
TIMEOUT_MS: Final = 2_000.0
"""Orders not answered within this are timed out by the bridge."""
FAILOVER_PENALTY_MS: Final = 40.0
BASE_FAILOVER_PROB: Final = 0.00005
"""Failovers are rare on a healthy day: an LP drops a session now and then."""

# --- segments ------------------------------------------------------------------------------
REGIONS: Final = ("eu", "us", "apac")
REGION_WEIGHTS: Final = (0.45, 0.40, 0.15)
REGION_NETWORK_MS: Final = np.array([0.4, 2.5, 28.0])
"""Added one-way network time from the client region to the bridge (London/NY)."""
INSTRUMENT_SETS: Final = ("fx_majors", "metals", "indices")
INSTRUMENT_SET_WEIGHTS: Final = (0.6, 0.15, 0.25)
ACCOUNT_TYPES: Final = ("retail", "pro")
ACCOUNT_TYPE_WEIGHTS: Final = (0.75, 0.25)
SEGMENT_KEYS: Final = ("region", "instrument_set", "account_type")

SYMBOLS: Final = ("EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "XAGUSD", "US500", "GER40")
SYMBOL_SET: Final = np.array([0, 0, 0, 1, 1, 2, 2])
SYMBOL_START_PRICE: Final = np.array([1.0850, 1.2700, 151.20, 2350.0, 28.40, 5200.0, 18400.0])
SYMBOL_VOL_PER_S: Final = np.array([0.00004, 0.00005, 0.00004, 0.00008, 0.0001, 0.00007, 0.00007])
"""Per-second log-return standard deviation in a calm market."""
SET_FIRST_SYMBOL: Final = np.array([0, 3, 5])
SET_SYMBOL_COUNT: Final = np.array([3, 2, 2])
SET_LP_WEIGHTS: Final = np.array(
    [
        [0.40, 0.30, 0.15, 0.15],  # fx majors: everyone quotes them
        [0.20, 0.20, 0.60, 0.00],  # metals: mostly one specialist LP
        [0.10, 0.50, 0.10, 0.30],  # indices
    ]
)
SET_LP_CUM: Final = np.cumsum(SET_LP_WEIGHTS, axis=1)

# --- outcomes ------------------------------------------------------------------------------
REJECT_CAUSES: Final = (
    "insufficient_margin",
    "price_changed",
    "off_quotes",
    "max_position",
    "market_closed",
)
REJECT_CAUSE_WEIGHTS: Final = np.array([0.45, 0.28, 0.12, 0.10, 0.05])
BASE_REJECT_PROB: Final = 0.012
VOLATILE_REJECT_CAUSES: Final = np.array([False, True, True, False, False])
"""Causes that grow with volatility (requotes and off quotes), the rest do not."""
BASE_TIMEOUT_PROB: Final = 0.001
BASE_DISCONNECT_PROB: Final = 0.0004
BASE_INTERNAL_PROB: Final = 0.0002
PARTIAL_FILL_PROB: Final = 0.07

PNL_MEAN_MINOR: Final = 30.0
"""Average realised P&L per fill in cents: a broker earns a small edge on average."""
PNL_SD_MINOR: Final = 900.0
PNL_DF: Final = 4.0
"""Student-t degrees of freedom of per-fill P&L: fat tails, occasional large losers."""
CURRENCY: Final = "USD"

# --- status propagation between two systems ------------------------------------------------
STATUS_SYSTEMS: Final = ("payments", "backoffice")
CONFIRM_MEDIAN_S: Final = 1.5
"""Payment provider confirms a pay-in after this median time."""
PROPAGATION_MEDIAN_S: Final = 0.35
PROPAGATION_SIGMA: Final = 0.8
PROPAGATION_MAX_S: Final = 8.0
"""Back office learns of a state change this long after the payments system (capped)."""

# --- shadow path ---------------------------------------------------------------------------
SHADOW_BASE_ROUTE_MISMATCH: Final = 0.003
SHADOW_BASE_OUTCOME_MISMATCH: Final = 0.001
SHADOW_DECISION_MEDIAN_MS: Final = 1.2
SHADOW_LAG_MEDIAN_S: Final = 0.02
"""The shadow path sees the input slightly after production (mirrored traffic)."""

MD_TICKS_PER_S: Final = 40.0
"""Market-data updates per second per path in a calm market (the paths' heartbeat)."""


def _segment_cells() -> tuple[tuple[dict[str, str], ...], FloatArray]:
    cells: list[dict[str, str]] = []
    weights: list[float] = []
    for region, rw in zip(REGIONS, REGION_WEIGHTS, strict=True):
        for iset, iw in zip(INSTRUMENT_SETS, INSTRUMENT_SET_WEIGHTS, strict=True):
            for acct, aw in zip(ACCOUNT_TYPES, ACCOUNT_TYPE_WEIGHTS, strict=True):
                cells.append({"region": region, "instrument_set": iset, "account_type": acct})
                weights.append(rw * iw * aw)
    return tuple(cells), np.asarray(weights, dtype=np.float64)


SEGMENT_CELLS, CELL_WEIGHTS = _segment_cells()
"""Every (region, instrument set, account type) combination and its share of order flow.

The dicts are shared by all events of a cell (never mutate them)."""
CELL_CUM: Final = np.cumsum(CELL_WEIGHTS)
CELL_REGION: Final = np.array([REGIONS.index(c["region"]) for c in SEGMENT_CELLS])
CELL_SET: Final = np.array([INSTRUMENT_SETS.index(c["instrument_set"]) for c in SEGMENT_CELLS])


def cell_mask(segment: dict[str, str] | None) -> npt.NDArray[np.bool_]:
    """Which segment cells a fault's segment filter selects (all of them for None)."""
    return np.array(
        [segment is None or all(c.get(k) == v for k, v in segment.items()) for c in SEGMENT_CELLS]
    )


def intraday_intensity(ts: float) -> float:
    """Relative order arrival rate at event time ``ts`` (1.0 = a typical busy hour).

    Two humps, the London open (~08:00 UTC) and the New York open (~13:30-15:00 UTC), over a
    quieter floor; the Asian session keeps a trickle going overnight.
    """
    hour = (ts % 86_400.0) / 3_600.0
    london = 0.55 * math.exp(-(((hour - 8.5) / 1.3) ** 2))
    new_york = 0.75 * math.exp(-(((hour - 14.5) / 1.6) ** 2))
    return 0.45 + london + new_york
