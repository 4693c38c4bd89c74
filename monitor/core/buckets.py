"""Per-step sub-aggregates: the unit every window is built from.

One :class:`Bucket` holds what one (variant, segment) produced in one event-time step
(``resolution`` seconds, 1 s by default): fixed counters in a flat list (cheap to add and
subtract), a log-binned latency histogram, rejection causes, custom metric sums and a few
correlation ids of bad events for evidence. Windows are running sums of buckets, so an
event costs O(1) however long the windows are.

Every sum is an integer (latencies in µs, basis points in thousandths, metric values in
millionths): integer sums do not depend on the order of the additions, so events that
arrive out of order within the allowed lateness give bit-identical windows and decisions.
The evidence examples are likewise the smallest ids seen, not the first to arrive.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from operator import add as _add
from operator import sub as _sub
from typing import Final, TypeVar

# Counter slots of Bucket.c (one flat list: fast to update, add, subtract and serialise).
EVENTS: Final = 0  # data events of any kind (throughput)
ORDERS: Final = 1  # order events
OUTCOMES: Final = 2  # order events that end or fail an order (rate denominator)
FILLED: Final = 3
PARTIAL: Final = 4
REJECTED: Final = 5
CANCELLED: Final = 6
ERRORS: Final = 7  # events carrying an error or timing out
ERR_TIMEOUT: Final = 8
ERR_DISCONNECT: Final = 9
ERR_OFF_QUOTES: Final = 10
ERR_INTERNAL: Final = 11
PNL: Final = 12  # sum of pnl_minor
PNL_N: Final = 13
SLIP_SUM: Final = 14  # sum of |price - ref| / ref in bps
SLIP_N: Final = 15
FAILOVERS: Final = 16
LAT_SUM: Final = 17
LAT_N: Final = 18
SH_PAIRS: Final = 19  # shadow/production pairs joined by correlation id
SH_MATCH: Final = 20
SH_UNMATCHED: Final = 21  # one side never arrived within the join window
SH_DEV_SUM: Final = 22  # price deviation of joined pairs, bps
SH_DEV_N: Final = 23
N_COUNTERS: Final = 24

OUTCOME_STATUSES: Final = frozenset(
    {"filled", "partially_filled", "rejected", "cancelled", "timed_out"}
)
ERROR_SLOT: Final = {
    "timeout": ERR_TIMEOUT,
    "disconnect": ERR_DISCONNECT,
    "off_quotes": ERR_OFF_QUOTES,
    "internal": ERR_INTERNAL,
}

# Latency histogram: log bins of ratio GAMMA (±1 % relative error on any quantile).
GAMMA: Final = 1.02
_INV_LOG_GAMMA: Final = 1.0 / math.log(GAMMA)
ZERO_BIN: Final = -1000  # latencies under 1 µs
MAX_EXAMPLES: Final = 3
LAT_SCALE: Final = 1000  # LAT_SUM is in µs
BPS_SCALE: Final = 1000  # SLIP_SUM and SH_DEV_SUM are in thousandths of a basis point
METRIC_SCALE: Final = 1_000_000  # metric sums are in millionths


def add_example(examples: list[str], example: str) -> None:
    """Keep the MAX_EXAMPLES smallest ids (canonical whatever the arrival order)."""
    if example in examples:
        return
    if len(examples) < MAX_EXAMPLES:
        examples.append(example)
        return
    worst = max(examples)
    if example < worst:
        examples[examples.index(worst)] = example


def _merge(into: dict[K, int], other: dict[K, int], sign: int) -> None:
    get = into.get
    if sign > 0:
        for key, n in other.items():
            left = get(key, 0) + n
            if left:
                into[key] = left
            else:
                into.pop(key, None)
        return
    for key, n in other.items():
        left = get(key, 0) - n
        if left:
            into[key] = left
        else:
            into.pop(key, None)


def _merge_sorted(into: dict[int, int], other: dict[int, int], sign: int, keys: list[int]) -> None:
    """:func:`_merge`, keeping ``keys`` (``into``'s, sorted) in step: a key that comes is
    inserted, one that leaves is removed (a window's bins change by a few a step)."""
    get = into.get
    for key, n in other.items():
        old = get(key, 0)
        left = old + n if sign > 0 else old - n
        if left:
            into[key] = left
            if not old:
                insort(keys, key)
        elif old:
            del into[key]
            del keys[bisect_left(keys, key)]


def latency_bin(ms: float) -> int:
    """Histogram bin of a latency in ms (values within 1 % share a bin)."""
    if ms < 1e-3:
        return ZERO_BIN
    return math.ceil(math.log(ms) * _INV_LOG_GAMMA)


def bin_value(b: int) -> float:
    """Representative latency of a bin (its log-midpoint)."""
    if b == ZERO_BIN:
        return 0.0
    return float(GAMMA ** (b - 0.5))


# What a window must carry besides the counters (bit flags; see Bucket.add).
HIST: Final = 1
REASONS: Final = 2
METRICS: Final = 4
EXAMPLES: Final = 8
ALL_PARTS: Final = HIST | REASONS | METRICS | EXAMPLES


K = TypeVar("K", int, str)

BucketState = tuple[
    list[int],  # counters
    list[tuple[int, int]],  # latency histogram: bin -> count
    list[tuple[str, int]],  # rejection causes
    list[tuple[str, str, int]],  # metrics: name, sum (a string: may exceed int64), count
    list[str],  # evidence examples
    float | None,  # newest event time (s)
]
"""A bucket in a checkpoint."""


class Bucket:
    """Sub-aggregates of one step (or, in a window, of many steps summed)."""

    __slots__ = ("_bins", "c", "examples", "hist", "max_ts", "metrics", "reasons")

    def __init__(self) -> None:
        self.c: list[int] = [0] * N_COUNTERS
        self.hist: dict[int, int] = {}
        self.reasons: dict[str, int] = {}
        self.metrics: dict[str, list[int]] = {}  # name -> [sum in millionths, count]
        self.examples: list[str] = []
        self.max_ts: float = -math.inf
        self._bins: list[int] | None = None
        """The histogram's bins, sorted, once a quantile was read (then kept by ``add``)."""

    def add(self, other: Bucket, sign: int = 1, parts: int = ALL_PARTS) -> None:
        """Add (sign=1) or subtract (sign=-1) another bucket's sums into this one.

        ``parts`` limits the work to what the reader needs (counters always): a window
        nobody reads a quantile from does not carry a histogram.
        """
        self.c = list(map(_add if sign > 0 else _sub, self.c, other.c))
        if parts & HIST and other.hist:
            if self._bins is None:
                _merge(self.hist, other.hist, sign)
            else:
                _merge_sorted(self.hist, other.hist, sign, self._bins)
        if parts & REASONS and other.reasons:
            _merge(self.reasons, other.reasons, sign)
        if parts & METRICS and other.metrics:
            metrics = self.metrics
            for name, (total, count) in other.metrics.items():
                acc = metrics.get(name)
                if acc is None:
                    metrics[name] = [sign * total, sign * count]
                else:
                    acc[0] += sign * total
                    acc[1] += sign * count
                    if not acc[1]:
                        del metrics[name]
        if sign > 0:
            self.max_ts = max(self.max_ts, other.max_ts)
            if parts & EXAMPLES:
                for example in other.examples:
                    add_example(self.examples, example)

    def quantile(self, q: float) -> float | None:
        """Latency quantile (rank ⌊q (n-1)⌋, as the sample quantile) or None if empty."""
        hist = self.hist
        n = sum(hist.values())
        if n <= 0:
            return None
        rank = math.floor(q * (n - 1))
        # The bins alone, sorted once and then kept in step by ``add``: a window's quantiles
        # are read every step, and its bins change by a few a step (sorting them every read
        # was a tenth of the core's cost at 80 events a step).
        bins = self._bins
        if bins is None:
            bins = self._bins = sorted(hist)
        if q <= 0.5:
            seen = 0
            for b in bins:
                seen += hist[b]
                if seen > rank:
                    return bin_value(b)
        else:
            # The same bin found from the top (p95, p99: a few bins walked instead of all):
            # the lowest bin whose count up to and including it, n - above, exceeds rank.
            above = 0
            found = None
            for b in reversed(bins):
                if n - above <= rank:
                    break
                found = b
                above += hist[b]
            if found is not None:
                return bin_value(found)
        return bin_value(max(hist))  # pragma: no cover - ranks always land above

    def to_state(self) -> BucketState:
        # most buckets (history seconds) hold counters only: skip sorting their empty parts,
        # a checkpoint exports thousands of them per rollout on the worker's event loop
        hist, reasons, metrics = self.hist, self.reasons, self.metrics
        return (
            self.c,
            sorted(hist.items()) if hist else [],
            sorted(reasons.items()) if reasons else [],
            # sums may exceed int64
            sorted((k, str(v[0]), v[1]) for k, v in metrics.items()) if metrics else [],
            self.examples,
            None if self.max_ts == -math.inf else self.max_ts,
        )

    @classmethod
    def from_state(cls, state: BucketState) -> Bucket:
        b = cls()
        b.c = [int(v) for v in state[0]]
        b.hist = {int(k): int(v) for k, v in state[1]}
        b.reasons = {str(k): int(v) for k, v in state[2]}
        b.metrics = {str(k): [int(s), int(n)] for k, s, n in state[3]}
        b.examples = [str(x) for x in state[4]]
        b.max_ts = -math.inf if state[5] is None else float(state[5])
        return b
