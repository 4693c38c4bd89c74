"""One rollout's traffic source: its spec, its faults, and its random draws per slice.

Each rollout draws its random numbers from its own generator, whole slices at a time and in
one fixed order (:meth:`RolloutFlow.draw`), so its stream never depends on other rollouts; the
events are then built for all rollouts together by :func:`monitor.sim.columns.build_slice`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from monitor.sim import model
from monitor.sim.faults import Fault
from monitor.sim.market import MarketSlice
from monitor.sim.scenarios import Scenario
from monitor.sim.wire import VALIDATED, EventTypes
from topics.events import SCHEMA_VERSION, Event

Chunk = tuple[np.ndarray, np.ndarray, list[Event]]
"""Event times, spell codes and the events (raw twins from :mod:`monitor.sim.wire` pass as
events). An event's spell code says which (rollout, variant) it speaks for: the rollout's index
times 3 plus the variant's index in :data:`SPELL_VARIANTS` (silence is decided per spell)."""
SPELL_VARIANTS = ("baseline", "canary", "shadow")
VARIANT_BY_CODE = ("baseline", "canary")
"""Variant names by the 0/1 code the column builders use."""


@dataclass(frozen=True)
class RolloutSpec:
    """One simulated rollout: its scenario and the shape of its traffic."""

    rollout_id: str
    scenario: Scenario
    plan: str | None = None
    """Plan name sent in the ``registered`` event (None: no plan event)."""
    traffic_pct: float = 20.0
    """Share of orders the canary takes (changed later with ``Simulation.set_traffic``)."""
    canary: bool = True
    shadow: bool = True
    order_rate: float = 80.0
    """Orders per second at the simulation start (before intraday curve and bursts)."""
    shadow_fraction: float = 0.3
    """Share of production orders mirrored to the shadow path."""
    payment_rate: float = 1.0
    """Payments per second whose state two systems report."""
    initial_stage: str | None = None
    """Emit ``stage_changed`` to this stage right after registering (None: don't)."""


class RolloutFlow:
    """One rollout's state across slices: its generator, sequence numbers, canary share."""

    def __init__(
        self,
        spec: RolloutSpec,
        rng: np.random.Generator,
        start_ts: float,
        types: EventTypes = VALIDATED,
        index: int = 0,
    ) -> None:
        self.spec = spec
        self.spell0 = len(SPELL_VARIANTS) * index
        """Spell code of the rollout's baseline; canary and shadow follow."""
        self._types = types
        self.share = spec.traffic_pct / 100.0 if spec.canary else 0.0
        self._rng = rng
        self._start_ts = start_ts
        self._seq = 0
        self._pay_seq = 0
        self._faults = [f for f in spec.scenario.faults if f.target != "market"]
        self._silences = [f for f in self._faults if f.kind == "silence"]
        self._variants = tuple(
            v
            for v, on in (("baseline", True), ("canary", spec.canary), ("shadow", spec.shadow))
            if on
        )
        self._cause = next(
            (f.cause for f in self._faults if f.kind == "rejects" and f.cause), "new_cause"
        )
        shifted = next((f.cause for f in self._faults if f.kind == "cause_shift" and f.cause), None)
        self.shift_cause = -1 if shifted is None else model.REJECT_CAUSES.index(shifted)
        """Index of the cause a ``cause_shift`` fault moves rejects to (-1: none)."""
        # faults on baseline or canary by kind, in scenario order (amounts add in that order)
        self._per_order: dict[str, list[tuple[Fault, np.ndarray]]] = {}
        for fault in self._faults:
            if fault.target in VARIANT_BY_CODE:
                entry = (fault, model.cell_mask(fault.segment))
                self._per_order.setdefault(fault.kind, []).append(entry)

    def silent(self, variant: str, t: float) -> bool:
        return any(f.target == variant and f.intensity(t) > 0 for f in self._silences)

    def _amount(self, kind: str, t: float, target: str) -> float:
        return sum(f.additive(t) for f in self._faults if f.kind == kind and f.target == target)

    def _silent_mask(self, canary: np.ndarray, t: float) -> np.ndarray:
        out = np.zeros(len(canary), dtype=bool)
        if not self._silences:
            return out
        if self.silent("canary", t):
            out |= canary
        if self.silent("baseline", t):
            out |= ~canary
        return out

    def draw(self, m: MarketSlice, dt: float) -> Draws:
        """Every random number of this rollout's slice, and its heartbeats.

        The order of the draws is the stream (same seed, same bytes): consecutive draws of
        one distribution may be merged (``random(a)`` then ``random(b)`` is ``random(a + b)``),
        nothing may be reordered.
        """
        spec, rng, t = self.spec, self._rng, m.t
        d = Draws(self)
        n = int(rng.poisson(spec.order_rate * m.rate_mult * dt))
        if n:
            d.n, d.first = n, self._seq
            self._seq += n
            d.u = rng.random(6 * n).reshape(6, n)  # submit, canary, cell, symbol, LP, failover
            d.u[0].sort()
            d.z_latency = rng.standard_normal(n)
            d.tail = rng.random(n) < model.TAIL_PROB
            d.pareto = rng.pareto(model.TAIL_ALPHA, int(d.tail.sum()))
            d.z_delay = rng.standard_normal(n)
            d.u2 = rng.random(4 * n).reshape(4, n)  # failover penalty, outcome, partial, cause
            d.z_qty = rng.normal(-0.7, 1.0, n)
            d.fill = rng.uniform(0.2, 0.9, n)
            d.side = rng.random(n)
            d.slip_bps = rng.normal(0.05, 0.25 * m.vol, n)
            d.pnl_t = rng.standard_t(model.PNL_DF, n)
            d.canary = d.u[1] < self.share
            d.live = ~self._silent_mask(d.canary, t)
            if spec.shadow and not self.silent("shadow", t):
                d.mirrored = d.live & (rng.random(n) < spec.shadow_fraction)
                k = int(d.mirrored.sum())
                if k:
                    d.shadow_u = rng.random(3 * k).reshape(3, k)  # moved, new route, flipped
                    # production and shadow decision times, mirroring lag
                    d.shadow_z = rng.standard_normal(3 * k).reshape(3, k)
                    d.shadow_px = rng.normal(0.0, 0.05, k)
        k = int(rng.poisson(spec.payment_rate * dt))
        if k:
            d.k_pay, d.first_pay = k, self._pay_seq
            self._pay_seq += k
            d.pay_u = rng.random(3 * k).reshape(3, k)  # created, canary, cell
            d.pay_z = rng.standard_normal(3 * k).reshape(3, k)  # confirm, two propagation lags
            d.pay_lost = rng.random(k)
        d.heartbeats = self.heartbeats(m, dt)
        return d

    def heartbeats(self, m: MarketSlice, dt: float) -> Chunk:
        """Per-path market-data tick count and CPU, once a slice: a live path always reports."""
        spec, rng = self.spec, self._rng
        ts = round(self._start_ts + m.t + dt * 0.999, 6)
        out: list[tuple[float, int, Event]] = []
        make_metric = self._types.metric
        for variant in self._variants:
            if self.silent(variant, m.t):
                continue
            code = self.spell0 + SPELL_VARIANTS.index(variant)
            ticks = float(rng.poisson(model.MD_TICKS_PER_S * m.vol * dt))
            cpu = round(float(30.0 + 8.0 * m.rate_mult + rng.normal(0.0, 2.0)), 2)
            for name, value, unit in (("md_ticks", ticks, "count"), ("cpu_pct", cpu, "pct")):
                metric = make_metric(
                    v=SCHEMA_VERSION,
                    rollout_id=spec.rollout_id,
                    variant=variant,
                    ts=ts,
                    name=name,
                    value=value,
                    unit=unit,
                )
                out.append((ts, code, metric))
        return chunk_from_rows(out)


_NONE: np.ndarray = np.empty(0)


class Draws:
    """One rollout's random numbers for one slice (arrays stay empty where nothing was drawn)."""

    def __init__(self, flow: RolloutFlow) -> None:
        self.flow = flow
        self.n = 0  # orders
        self.first = 0
        self.u = self.z_latency = self.tail = self.pareto = self.z_delay = _NONE
        self.u2 = self.z_qty = self.fill = self.side = self.slip_bps = self.pnl_t = _NONE
        self.canary = self.live = _NONE
        self.mirrored: np.ndarray | None = None  # None: shadow path off or silent
        self.shadow_u = self.shadow_z = self.shadow_px = _NONE
        self.k_pay = 0
        self.first_pay = 0
        self.pay_u = self.pay_z = self.pay_lost = _NONE
        self.heartbeats: Chunk = EMPTY_CHUNK


EMPTY_CHUNK: Chunk = (np.empty(0), np.empty(0, dtype=np.int64), [])


def chunk_from_rows(rows: list[tuple[float, int, Event]]) -> Chunk:
    """A chunk from (event time, spell code, event) rows."""
    return (
        np.array([r[0] for r in rows], dtype=np.float64),
        np.array([r[1] for r in rows], dtype=np.int64),
        [r[2] for r in rows],
    )
