"""Named scenarios with ground truth: what goes wrong, when, how much, and what should happen.

``build_scenario(name, seed)`` returns the same :class:`Scenario` for the same seed; the seed
jitters onset and magnitude within realistic ranges so a grid over seeds is not one stream
repeated. Times are seconds after the simulation start. Every scenario begins with a calm
warm-up so learned baselines have something to learn from.

Magnitudes are set relative to the example broker plan's rules (``examples/``): sustained
regressions clearly cross their thresholds; blips are strong but shorter than the rules'
``for`` windows; market-wide conditions hit baseline and canary alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from monitor.sim.faults import Fault
from topics.commands import Action

WARMUP_S: Final = 660.0
"""Calm minutes before any fault: learned baselines need history (the example plan's
reject-spike rule learns one point per full 1 m window and wants 9), the canary gathers samples."""


@dataclass(frozen=True)
class Expectation:
    """Ground truth: the decision a good monitor makes, or none."""

    action: Action | None
    """None: no protective action is expected (promotions are fine)."""
    onset_s: float | None = None
    """When the regression begins (for a drift: its start, however small it is then)."""
    variant: str | None = None
    segment: dict[str, str] | None = None
    """A segment-only regression must be attributed to (a superset of) this segment."""
    rules: tuple[str, ...] = ()
    """Rules of the example plan that should decide (empty: any rule with ``action``)."""
    sustained: bool = False
    """True for a regression that never recovers: missing it is a miss, not a judgement."""
    also: tuple[Action, ...] = ()
    """Other actions that are also correct (e.g. an error-budget burn escalating to rollback)."""

    def accepts(self, action: str) -> bool:
        return action == self.action or action in self.also


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    duration_s: float
    faults: tuple[Fault, ...] = ()
    expect: Expectation = field(default_factory=lambda: Expectation(action=None))
    seed: int = 0


Builder = Callable[[np.random.Generator], tuple[str, float, tuple[Fault, ...], Expectation]]


def _onset(rng: np.random.Generator) -> float:
    return float(round(WARMUP_S + rng.uniform(0.0, 120.0)))


def _healthy(rng: np.random.Generator) -> tuple[str, float, tuple[Fault, ...], Expectation]:
    return "normal trading, nothing breaks", 1800.0, (), Expectation(None)


def _volatile(rng: np.random.Generator) -> tuple[str, float, tuple[Fault, ...], Expectation]:
    t0 = _onset(rng)
    vol = float(rng.uniform(2.5, 4.0))
    faults = (Fault("volatility", t0, t0 + 420.0, magnitude=vol, target="market", ramp_s=30.0),)
    return (
        f"market-wide volatility x{vol:.1f} for 7 min, both variants",
        1300.0,
        faults,
        (Expectation(None, onset_s=t0)),
    )


def _burst(rng: np.random.Generator) -> tuple[str, float, tuple[Fault, ...], Expectation]:
    t0 = _onset(rng)
    mult = float(rng.uniform(4.0, 7.0))
    length = float(rng.uniform(60.0, 150.0))
    faults = (Fault("burst", t0, t0 + length, magnitude=mult, target="market"),)
    desc = f"order burst x{mult:.1f} for {length:.0f} s, both variants"
    return desc, 1200.0, faults, Expectation(None, onset_s=t0)


def _blips(rng: np.random.Generator) -> tuple[str, float, tuple[Fault, ...], Expectation]:
    t0 = _onset(rng)
    faults = (
        Fault("latency", t0, t0 + float(rng.uniform(15.0, 30.0)), magnitude=3.0),
        Fault("errors", t0 + 180.0, t0 + 180.0 + float(rng.uniform(30.0, 60.0)), magnitude=0.08),
        Fault("latency", t0 + 360.0, t0 + 360.0 + float(rng.uniform(15.0, 30.0)), magnitude=2.5),
    )
    desc = "canary blips: latency x3 and x2.5 for <30 s, errors +8 % for <60 s"
    return desc, 1300.0, faults, Expectation(None, onset_s=t0)


def _latency(rng: np.random.Generator) -> tuple[str, float, tuple[Fault, ...], Expectation]:
    t0 = _onset(rng)
    mult = float(rng.uniform(1.7, 2.3))
    faults = (Fault("latency", t0, magnitude=mult),)
    exp = Expectation("rollback", onset_s=t0, variant="canary", sustained=True)
    return f"canary latency x{mult:.2f}, sustained", 1200.0, faults, exp


def _errors(rng: np.random.Generator) -> tuple[str, float, tuple[Fault, ...], Expectation]:
    t0 = _onset(rng)
    p = float(rng.uniform(0.04, 0.06))
    faults = (Fault("errors", t0, magnitude=p),)
    # the example plan also burns its error budget on this: rollback is a correct escalation
    exp = Expectation("pause", onset_s=t0, variant="canary", sustained=True, also=("rollback",))
    return f"canary timeouts/disconnects +{p:.1%}, sustained", 1200.0, faults, exp


def _rejects(rng: np.random.Generator) -> tuple[str, float, tuple[Fault, ...], Expectation]:
    t0 = _onset(rng)
    p = float(rng.uniform(0.04, 0.07))
    faults = (Fault("rejects", t0, magnitude=p, cause="symbol_not_mapped"),)
    # a new cause is also a shift of the rejection-cause mix: stopping expansion is correct
    exp = Expectation("hold", onset_s=t0, variant="canary", sustained=True, also=("pause",))
    return f"canary rejects +{p:.1%} with new cause symbol_not_mapped", 1200.0, faults, exp


def _lp_outage(rng: np.random.Generator) -> tuple[str, float, tuple[Fault, ...], Expectation]:
    t0 = _onset(rng)
    share = float(rng.uniform(0.4, 0.7))
    faults = (Fault("lp_outage", t0, magnitude=share, target="market", lp="lp_beta"),)
    exp = Expectation("reduce_scope", onset_s=t0, sustained=True)
    desc = f"partial outage of lp_beta: {share:.0%} of its requests fail over"
    return desc, 1200.0, faults, exp


def _delayed(rng: np.random.Generator) -> tuple[str, float, tuple[Fault, ...], Expectation]:
    t0 = _onset(rng)
    extra = float(rng.uniform(120.0, 250.0))
    faults = (Fault("lp_delay", t0, t0 + 600.0, magnitude=extra, target="market", lp="lp_gamma"),)
    desc = f"lp_gamma answers {extra:.0f} ms late for 10 min, both variants wait on it"
    return desc, 1400.0, faults, Expectation(None, onset_s=t0)


def _status(rng: np.random.Generator) -> tuple[str, float, tuple[Fault, ...], Expectation]:
    t0 = _onset(rng)
    p = float(rng.uniform(0.1, 0.25))
    faults = (Fault("status_mismatch", t0, magnitude=p),)
    exp = Expectation("freeze", onset_s=t0, variant="canary", sustained=True)
    desc = f"back office never confirms {p:.0%} of canary payments"
    return desc, 1200.0, faults, exp


def _pnl(rng: np.random.Generator) -> tuple[str, float, tuple[Fault, ...], Expectation]:
    t0 = _onset(rng)
    drain = float(rng.uniform(1500.0, 2500.0))
    faults = (Fault("pnl_drain", t0, magnitude=drain),)
    exp = Expectation("halt", onset_s=t0, variant="canary", sustained=True)
    desc = f"canary loses {drain / 100:.0f} USD more per fill (mispricing), sustained"
    return desc, 1200.0, faults, exp


def _silent(rng: np.random.Generator) -> tuple[str, float, tuple[Fault, ...], Expectation]:
    t0 = _onset(rng)
    faults = (Fault("silence", t0, magnitude=1.0),)
    exp = Expectation("freeze", onset_s=t0, variant="canary", sustained=True)
    return "canary's market-data feed stalls: it stops reporting", 1200.0, faults, exp


def _segment(rng: np.random.Generator) -> tuple[str, float, tuple[Fault, ...], Expectation]:
    # errors confined to one region: large there (> 5 %), small in the canary's average
    t0 = _onset(rng)
    p = float(rng.uniform(0.06, 0.09))
    seg = {"region": "apac"}
    faults = (Fault("errors", t0, magnitude=p, segment=seg),)
    exp = Expectation(
        "pause", onset_s=t0, variant="canary", segment=seg, sustained=True, also=("rollback",)
    )
    return f"canary errors +{p:.1%} in region=apac only", 1200.0, faults, exp


def _shadow(rng: np.random.Generator) -> tuple[str, float, tuple[Fault, ...], Expectation]:
    t0 = _onset(rng)
    p = float(rng.uniform(0.08, 0.15))
    faults = (Fault("shadow_mismatch", t0, magnitude=p, target="shadow"),)
    exp = Expectation("freeze", onset_s=t0, variant="shadow", sustained=True)
    return f"shadow path routes {p:.0%} of orders elsewhere", 1200.0, faults, exp


def _drift(rng: np.random.Generator) -> tuple[str, float, tuple[Fault, ...], Expectation]:
    # the onset is the drift's start: a rule that stops it before a ratio rule's 1.3x (the
    # example plan's canary-latency-drift) detects it, it does not act early
    t0 = _onset(rng)
    ramp = float(rng.uniform(480.0, 720.0))
    top = 2.0
    faults = (Fault("latency", t0, magnitude=top, ramp_s=ramp),)
    exp = Expectation("rollback", onset_s=t0, variant="canary", sustained=True)
    desc = f"canary latency drifts from x1 to x{top:.0f} over {ramp:.0f} s"
    return desc, 1300.0, faults, exp


def _cause_shift(rng: np.random.Generator) -> tuple[str, float, tuple[Fault, ...], Expectation]:
    # the canary rejects as often as production, for other reasons: a mapping or limit check
    # of the new path refuses orders production would have refused for margin or price
    t0 = _onset(rng)
    share = float(rng.uniform(0.5, 0.9))
    cause = str(rng.choice(["max_position", "market_closed", "off_quotes"]))
    faults = (Fault("cause_shift", t0, magnitude=share, cause=cause),)
    exp = Expectation("pause", onset_s=t0, variant="canary", sustained=True)
    desc = f"{share:.0%} of canary rejects become {cause}, reject rate unchanged"
    return desc, 1800.0, faults, exp


DRIFT_PER_MIN: Final = 0.02
"""``latency_drift``: the canary's latency grows this much per minute from its onset."""


def _slow_drift_2pct(
    rng: np.random.Generator,
) -> tuple[str, float, tuple[Fault, ...], Expectation]:
    # +2 %/minute from a steady start, never saturating within the run: the onset is the
    # drift's start (a decision d seconds later came at d/30 % slower)
    t0 = _onset(rng)
    ramp = 3600.0
    faults = (Fault("latency", t0, magnitude=1.0 + DRIFT_PER_MIN * ramp / 60.0, ramp_s=ramp),)
    exp = Expectation("rollback", onset_s=t0, variant="canary", sustained=True)
    return f"canary latency +{DRIFT_PER_MIN:.0%}/min from t0", 1500.0, faults, exp


def _shock(rng: np.random.Generator) -> tuple[str, float, tuple[Fault, ...], Expectation]:
    # a sudden market-wide shock (news): no ramp, stronger and shorter than volatile_market
    t0 = _onset(rng)
    vol = float(rng.uniform(4.0, 6.0))
    length = float(rng.uniform(60.0, 150.0))
    faults = (Fault("volatility", t0, t0 + length, magnitude=vol, target="market"),)
    desc = f"sudden market shock: volatility x{vol:.1f} for {length:.0f} s, both variants"
    return desc, 1200.0, faults, Expectation(None, onset_s=t0)


def _error_burst(rng: np.random.Generator) -> tuple[str, float, tuple[Fault, ...], Expectation]:
    t0 = _onset(rng)
    p = float(rng.uniform(0.1, 0.2))
    faults = (Fault("errors", t0, t0 + 20.0, magnitude=p),)
    return f"canary error burst +{p:.0%} for 20 s", 1200.0, faults, Expectation(None, onset_s=t0)


SCENARIOS: Final[dict[str, Builder]] = {
    "healthy": _healthy,
    "volatile_market": _volatile,
    "order_burst": _burst,
    "transient_blips": _blips,
    "latency_regression": _latency,
    "error_rate_regression": _errors,
    "rejection_spike": _rejects,
    "lp_outage": _lp_outage,
    "delayed_provider": _delayed,
    "status_mismatch": _status,
    "pnl_drain": _pnl,
    "feed_silent": _silent,
    "segment_regression": _segment,
    "shadow_mismatch": _shadow,
    "slow_drift": _drift,
    "cause_shift": _cause_shift,
    "latency_drift": _slow_drift_2pct,
    "market_shock": _shock,
    "error_burst": _error_burst,
}
SCENARIO_NAMES: Final = tuple(SCENARIOS)


def build_scenario(name: str, seed: int = 0) -> Scenario:
    """The scenario ``name`` with onset and magnitude drawn from ``seed``.

    >>> build_scenario("latency_regression", 3) == build_scenario("latency_regression", 3)
    True
    >>> build_scenario("healthy").expect.action is None
    True
    """
    try:
        builder = SCENARIOS[name]
    except KeyError:
        known = ", ".join(SCENARIO_NAMES)
        raise ValueError(f"unknown scenario {name!r} (known: {known})") from None
    # a seed per scenario name, so scenario A with seed 1 is not scenario B's draws reused
    rng = np.random.default_rng([seed, *name.encode()])
    description, duration, faults, expect = builder(rng)
    return Scenario(name, description, duration, faults, expect, seed)
