"""Faults the simulator can inject, and how strong each is at a given moment.

A :class:`Fault` is data: what breaks (``kind``), where (``target``: the shared market or one
variant, optionally one segment), when (``start_s``/``end_s`` after the simulation start,
with an optional linear ramp for slow drifts) and how much (``magnitude``, meaning per kind
below). Market faults hit every variant at once — the detector must not blame the canary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

FaultKind = Literal[
    "latency",  # latency multiplier (magnitude 1.8 = +80 %)
    "errors",  # added error probability (timeouts and disconnects, 3:1)
    "rejects",  # added reject probability with a new ``cause``
    "cause_shift",  # share of ordinary rejects whose cause becomes ``cause`` (rate unchanged)
    "lp_outage",  # share of requests to ``lp`` that fail over to another LP
    "lp_delay",  # extra median ms on responses from ``lp``
    "volatility",  # market volatility multiplier (prices, latency, requotes, P&L spread)
    "burst",  # order arrival rate multiplier
    "status_mismatch",  # share of payments the second system never confirms
    "pnl_drain",  # mean P&L per fill shifted down by this many minor units
    "silence",  # the target variant emits nothing at all
    "shadow_mismatch",  # added probability that the shadow path routes elsewhere
]
Target = Literal["market", "baseline", "canary", "shadow"]

FAULT_KINDS: Final[tuple[FaultKind, ...]] = FaultKind.__args__  # type: ignore[attr-defined]  # a Literal's values: typing has no public accessor
MARKET_KINDS: Final = frozenset({"lp_outage", "lp_delay", "volatility", "burst"})


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    start_s: float
    end_s: float | None = None
    """None: lasts until the end of the simulation (a sustained regression)."""
    magnitude: float = 1.0
    target: Target = "canary"
    segment: dict[str, str] | None = None
    ramp_s: float = 0.0
    """Linear ramp from no effect to full ``magnitude`` (slow drift)."""
    lp: str | None = None
    cause: str | None = None

    def __post_init__(self) -> None:
        if self.kind in MARKET_KINDS and self.target != "market":
            raise ValueError(f"fault {self.kind!r} acts on the market, not on {self.target!r}")
        if self.kind in {"lp_outage", "lp_delay"} and self.lp is None:
            raise ValueError(f"fault {self.kind!r} needs `lp`")
        if self.kind == "cause_shift" and not (0.0 < self.magnitude <= 1.0 and self.cause):
            raise ValueError("fault 'cause_shift' needs a `cause` and a share in (0, 1]")
        if self.end_s is not None and self.end_s <= self.start_s:
            raise ValueError("fault ends before it starts")

    def intensity(self, t: float) -> float:
        """0 before and after the fault, 1 at full strength, in between on a ramp.

        >>> Fault("latency", 10.0, ramp_s=10.0, magnitude=2.0).intensity(15.0)
        0.5
        >>> Fault("latency", 10.0, end_s=20.0).intensity(20.0)
        0.0
        """
        if t < self.start_s or (self.end_s is not None and t >= self.end_s):
            return 0.0
        if self.ramp_s > 0:
            return min(1.0, (t - self.start_s) / self.ramp_s)
        return 1.0

    def multiplier(self, t: float) -> float:
        """``magnitude`` as a multiplier scaled by intensity (1.0 when inactive)."""
        return 1.0 + (self.magnitude - 1.0) * self.intensity(t)

    def additive(self, t: float) -> float:
        """``magnitude`` as an additive amount scaled by intensity (0.0 when inactive)."""
        return self.magnitude * self.intensity(t)
