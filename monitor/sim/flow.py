"""One rollout's traffic in one time slice: orders, shadow decisions, payments, heartbeats.

Columns are drawn with numpy for the whole slice at once; object columns (names, segment
dicts) come from fancy-indexing object arrays, and event structs are built from the columns
at the end (the only per-event work). Each function returns chunks of (event times, events);
:mod:`monitor.sim.generate` orders them and carries future ones to later slices.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat, starmap
from typing import Any

import numpy as np

from monitor.sim import model
from monitor.sim.market import MarketSlice
from monitor.sim.scenarios import Scenario
from monitor.sim.wire import VALIDATED, EventTypes, RawOrder, RawShadow
from topics.events import SCHEMA_VERSION, Event

Chunk = tuple[np.ndarray, list[Event]]
"""Event times and the events (raw twins from :mod:`monitor.sim.wire` pass as events)."""
_V = SCHEMA_VERSION
_VARIANT_BY_CODE = ("baseline", "canary")
# status codes of an order's terminal event
_FILL, _PARTIAL, _REJECT, _NEW_REJECT, _TIMEOUT, _DISCONNECT, _INTERNAL = range(7)
_STATUS = (
    "filled",
    "partially_filled",
    "rejected",
    "rejected",
    "timed_out",
    "cancelled",
    "rejected",
)
_ERROR = (None, None, None, None, "timeout", "disconnect", "internal", "off_quotes")
_ERR_OFF_QUOTES = 7
_REASONS = (None, *model.REJECT_CAUSES, "new_cause", "internal_error")
_OFF_QUOTES_IDX = _REASONS.index("off_quotes")


def _objects(values: tuple[object, ...]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


_VARIANT_OBJ = _objects(_VARIANT_BY_CODE)
_STATUS_OBJ = _objects(_STATUS)
_ERROR_OBJ = _objects(_ERROR)
_CELL_OBJ = _objects(model.SEGMENT_CELLS)
_LP_OBJ = _objects(model.LPS)
_VENUE_OBJ = _objects(model.LP_VENUE)
_SYMBOL_OBJ = _objects(model.SYMBOLS)
_CURRENCY_OBJ = _objects((None, model.CURRENCY))
_OUTCOME_OBJ = _objects(("accept", "reject"))


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
    """Draws one rollout's events slice by slice (state: sequence numbers, RNG, share)."""

    def __init__(
        self,
        spec: RolloutSpec,
        rng: np.random.Generator,
        start_ts: float,
        types: EventTypes = VALIDATED,
    ) -> None:
        self.spec = spec
        self._types = types
        self.share = spec.traffic_pct / 100.0 if spec.canary else 0.0
        self._rng = rng
        self._start_ts = start_ts
        self._seq = 0
        self._pay_seq = 0
        self._faults = [f for f in spec.scenario.faults if f.target != "market"]
        self._masks = [model.cell_mask(f.segment) for f in self._faults]
        self._cause = next(
            (f.cause for f in self._faults if f.kind == "rejects" and f.cause), "new_cause"
        )

    def silent(self, variant: str, t: float) -> bool:
        return any(
            f.kind == "silence" and f.target == variant and f.intensity(t) > 0 for f in self._faults
        )

    def _per_order(self, kind: str, t: float, canary: np.ndarray, cell: np.ndarray) -> np.ndarray:
        """Sum (additive kinds) of active ``kind`` faults for each order; 0 where none applies."""
        out = np.zeros(len(cell))
        for fault, mask in zip(self._faults, self._masks, strict=True):
            if fault.kind != kind or fault.target not in _VARIANT_BY_CODE:
                continue
            amount = fault.additive(t) if kind != "latency" else fault.multiplier(t) - 1.0
            if amount == 0.0:
                continue
            on_variant = canary if fault.target == "canary" else ~canary
            out[on_variant & mask[cell]] += amount
        return out

    def _amount(self, kind: str, t: float, target: str) -> float:
        return sum(f.additive(t) for f in self._faults if f.kind == kind and f.target == target)

    def orders(self, m: MarketSlice, dt: float) -> list[Chunk]:
        spec, rng, t = self.spec, self._rng, m.t
        n = int(rng.poisson(spec.order_rate * m.rate_mult * dt))
        if n == 0:
            return []
        submit = self._start_ts + t + np.sort(rng.random(n)) * dt
        canary = rng.random(n) < self.share
        cell = np.minimum(
            np.searchsorted(model.CELL_CUM, rng.random(n) * model.CELL_CUM[-1], side="right"),
            len(model.SEGMENT_CELLS) - 1,
        )
        iset = model.CELL_SET[cell]
        sym = model.SET_FIRST_SYMBOL[iset] + (rng.random(n) * model.SET_SYMBOL_COUNT[iset]).astype(
            np.int64
        )
        lp = np.minimum((rng.random(n)[:, None] > model.SET_LP_CUM[iset]).sum(axis=1), 3)
        failover = rng.random(n) < model.BASE_FAILOVER_PROB + m.lp_fail[lp]
        lp = np.where(failover, _failover_target(lp, iset), lp)

        latency = model.LP_MEDIAN_MS[lp] * np.exp(model.LP_SIGMA[lp] * rng.standard_normal(n))
        tail = rng.random(n) < model.TAIL_PROB
        latency[tail] *= 2.0 * (1.0 + rng.pareto(model.TAIL_ALPHA, int(tail.sum())))
        latency *= 1.0 + 0.35 * (m.vol - 1.0)  # busy markets load every component
        latency += 2.0 * model.REGION_NETWORK_MS[model.CELL_REGION[cell]]
        delayed = m.lp_delay_ms[lp]
        latency += delayed * np.exp(0.3 * rng.standard_normal(n))
        latency += failover * model.FAILOVER_PENALTY_MS * (0.5 + rng.random(n))
        latency *= 1.0 + self._per_order("latency", t, canary, cell)
        live = ~self._silent_mask(canary, t)

        # outcome by stacked probabilities: errors, new-cause rejects, ordinary rejects
        err_add = self._per_order("errors", t, canary, cell)
        p_timeout = model.BASE_TIMEOUT_PROB + 0.75 * err_add
        p_disc = model.BASE_DISCONNECT_PROB + 0.25 * err_add
        p_new = self._per_order("rejects", t, canary, cell)
        cause_w = model.REJECT_CAUSE_WEIGHTS * np.where(model.VOLATILE_REJECT_CAUSES, m.vol, 1.0)
        p_rej = model.BASE_REJECT_PROB * float(cause_w.sum())
        u = rng.random(n)
        c1 = p_timeout
        c2 = c1 + p_disc
        c3 = c2 + model.BASE_INTERNAL_PROB
        c4 = c3 + p_new
        c5 = c4 + p_rej
        code = np.full(n, _FILL)
        code[u < c5] = _REJECT
        code[u < c4] = _NEW_REJECT
        code[u < c3] = _INTERNAL
        code[u < c2] = _DISCONNECT
        code[u < c1] = _TIMEOUT
        code[latency >= model.TIMEOUT_MS] = _TIMEOUT
        latency = np.minimum(latency, model.TIMEOUT_MS)
        partial = (code == _FILL) & (rng.random(n) < model.PARTIAL_FILL_PROB)
        code[partial] = _PARTIAL
        cause = np.searchsorted(np.cumsum(cause_w), rng.random(n) * cause_w.sum(), side="right")
        cause = np.minimum(cause, len(model.REJECT_CAUSES) - 1)

        qty = np.maximum(np.round(np.exp(rng.normal(-0.7, 1.0, n)), 2), 0.01)
        fill_frac = np.where(partial, np.round(rng.uniform(0.2, 0.9, n), 2), 1.0)
        side = np.where(rng.random(n) < 0.5, -1.0, 1.0)
        ref = m.mids[sym]
        slip_bps = rng.normal(0.05, 0.25 * m.vol, n)
        price = ref * (1.0 + side * slip_bps / 1e4)
        pnl = model.PNL_MEAN_MINOR + model.PNL_SD_MINOR * m.vol * rng.standard_t(
            model.PNL_DF, n
        ) / np.sqrt(model.PNL_DF / (model.PNL_DF - 2.0))
        pnl -= self._per_order("pnl_drain", t, canary, cell)
        done_ts = submit + latency / 1000.0

        # object columns by fancy indexing (C speed); the comprehension only builds structs
        filled = code <= _PARTIAL
        reason_idx = np.where(code == _REJECT, cause + 1, 0)
        reason_idx[code == _NEW_REJECT] = len(_REASONS) - 2
        reason_idx[code == _INTERNAL] = len(_REASONS) - 1
        error_idx = np.where(reason_idx == _OFF_QUOTES_IDX, _ERR_OFF_QUOTES, code)
        price_col = np.round(price, 6).astype(object)
        price_col[~filled] = None
        pnl_col = np.rint(pnl).astype(np.int64).astype(object)
        pnl_col[~filled] = None
        first = self._seq
        self._seq += n
        rid = spec.rollout_id
        reasons = np.array([*_REASONS[:-2], self._cause, "internal_error"], dtype=object)
        sel = np.flatnonzero(live)
        oids = [f"{rid}-{i}" for i in (sel + first).tolist()]
        ts_col = np.round(done_ts[sel], 6)
        # in the encoded field order: the order's own fields, then the base fields
        columns = (
            oids,
            _STATUS_OBJ[code[sel]].tolist(),
            np.round(latency[sel], 3).tolist(),
            _LP_OBJ[lp[sel]].tolist(),
            _VENUE_OBJ[lp[sel]].tolist(),
            _SYMBOL_OBJ[sym[sel]].tolist(),
            qty[sel].tolist(),
            np.where(filled, np.round(qty * fill_frac, 2), 0.0)[sel].tolist(),
            price_col[sel].tolist(),
            np.round(ref[sel], 6).tolist(),
            reasons[reason_idx[sel]].tolist(),
            _ERROR_OBJ[error_idx[sel]].tolist(),
            pnl_col[sel].tolist(),
            _CURRENCY_OBJ[filled[sel].astype(np.int64)].tolist(),
            failover[sel].tolist(),
            repeat(_V, len(oids)),
            repeat(rid, len(oids)),
            _VARIANT_OBJ[canary[sel].astype(np.int64)].tolist(),
            ts_col.tolist(),
            _CELL_OBJ[cell[sel]].tolist(),
            oids,
        )
        events = _build(self._types.order, self._types.positional, _ORDER_FIELDS, columns)
        chunks = [(ts_col, events)]
        if spec.shadow and not self.silent("shadow", t):
            chunks.append(self._shadow(m, submit, live, cell, code, lp, price, ref, first))
        return chunks

    def _silent_mask(self, canary: np.ndarray, t: float) -> np.ndarray:
        out = np.zeros(len(canary), dtype=bool)
        if self.silent("canary", t):
            out |= canary
        if self.silent("baseline", t):
            out |= ~canary
        return out

    def _shadow(
        self,
        m: MarketSlice,
        submit: np.ndarray,
        live: np.ndarray,
        cell: np.ndarray,
        code: np.ndarray,
        lp: np.ndarray,
        price: np.ndarray,
        ref: np.ndarray,
        first: int,
    ) -> Chunk:
        """Production's routing decision and the shadow path's, joined by correlation id."""
        rng, spec, t = self._rng, self.spec, m.t
        n = len(submit)
        mirrored = live & (rng.random(n) < spec.shadow_fraction)
        k = int(mirrored.sum())
        if k == 0:
            return _EMPTY_TS, []
        idx = np.flatnonzero(mirrored)
        p_route = model.SHADOW_BASE_ROUTE_MISMATCH + self._amount("shadow_mismatch", t, "shadow")
        route = lp[idx]
        moved = rng.random(k) < p_route
        shadow_route = np.where(
            moved, (route + 1 + (rng.random(k) * 3).astype(np.int64)) % 4, route
        )
        rejected = (code[idx] == _REJECT) | (code[idx] == _NEW_REJECT) | (code[idx] == _INTERNAL)
        flipped = rng.random(k) < model.SHADOW_BASE_OUTCOME_MISMATCH
        shadow_rejected = rejected ^ flipped
        prod_ms = model.SHADOW_DECISION_MEDIAN_MS * np.exp(0.4 * rng.standard_normal(k))
        shadow_ms = model.SHADOW_DECISION_MEDIAN_MS * np.exp(0.4 * rng.standard_normal(k))
        prod_ts = submit[idx] + prod_ms / 1000.0
        lag = model.SHADOW_LAG_MEDIAN_S * np.exp(0.5 * rng.standard_normal(k))
        shadow_ts = prod_ts + lag + shadow_ms / 1000.0
        px = np.where(rejected, ref[idx], price[idx])
        shadow_px = px * (1.0 + rng.normal(0.0, 0.05, k) / 1e4)
        rid = spec.rollout_id
        oids = [f"{rid}-{i}" for i in (idx + first).tolist()]
        segs = _CELL_OBJ[cell[idx]].tolist()
        types = self._types
        n_k = len(oids)
        prod = _build(
            types.shadow,
            types.positional,
            _SHADOW_FIELDS,
            (
                _LP_OBJ[route].tolist(),
                _OUTCOME_OBJ[rejected.astype(np.int64)].tolist(),
                np.round(px, 6).tolist(),
                repeat(None, n_k),
                np.round(prod_ms, 3).tolist(),
                repeat(False, n_k),
                repeat(_V, n_k),
                repeat(rid, n_k),
                repeat("baseline", n_k),
                np.round(prod_ts, 6).tolist(),
                segs,
                oids,
            ),
        )
        mirrored_events = _build(
            types.shadow,
            types.positional,
            _SHADOW_FIELDS,
            (
                _LP_OBJ[shadow_route].tolist(),
                _OUTCOME_OBJ[shadow_rejected.astype(np.int64)].tolist(),
                np.round(shadow_px, 6).tolist(),
                repeat(None, n_k),
                np.round(shadow_ms, 3).tolist(),
                repeat(False, n_k),
                repeat(_V, n_k),
                repeat(rid, n_k),
                repeat("shadow", n_k),
                np.round(shadow_ts, 6).tolist(),
                segs,
                oids,
            ),
        )
        return (
            np.concatenate([np.round(prod_ts, 6), np.round(shadow_ts, 6)]),
            prod + mirrored_events,
        )

    def payments(self, m: MarketSlice, dt: float) -> Chunk:
        """Payments whose state the payments system and the back office both report."""
        rng, spec, t = self._rng, self.spec, m.t
        k = int(rng.poisson(spec.payment_rate * dt))
        if k == 0:
            return _EMPTY_TS, []
        created = self._start_ts + t + rng.random(k) * dt
        canary = rng.random(k) < self.share
        cell = np.minimum(
            np.searchsorted(model.CELL_CUM, rng.random(k) * model.CELL_CUM[-1], side="right"),
            len(model.SEGMENT_CELLS) - 1,
        )
        confirm = created + model.CONFIRM_MEDIAN_S * np.exp(0.5 * rng.standard_normal(k))
        lag1, lag2 = (
            np.minimum(
                model.PROPAGATION_MEDIAN_S
                * np.exp(model.PROPAGATION_SIGMA * rng.standard_normal(k)),
                model.PROPAGATION_MAX_S,
            )
            for _ in range(2)
        )
        lost = rng.random(k) < self._per_order("status_mismatch", t, canary, cell)
        live = ~self._silent_mask(canary, t)
        rid = spec.rollout_id
        first = self._pay_seq
        self._pay_seq += k
        out: list[tuple[float, Event]] = []
        rows = zip(
            range(k),
            canary.tolist(),
            cell.tolist(),
            np.round(created, 6).tolist(),
            np.round(confirm, 6).tolist(),
            np.round(created + lag1, 6).tolist(),
            # a system applies its own updates in order: confirmed never lands before pending
            np.round(np.maximum(confirm + lag2, created + lag1 + 0.001), 6).tolist(),
            lost.tolist(),
            live.tolist(),
            strict=True,
        )
        make_status = self._types.status
        for i, can, c, t_new, t_conf, t_new2, t_conf2, is_lost, is_live in rows:
            if not is_live:
                continue
            oid = f"{rid}-pay-{first + i}"
            variant = _VARIANT_BY_CODE[can]
            seg = model.SEGMENT_CELLS[c]
            steps = [
                (t_new, "payments", "pending"),
                (t_conf, "payments", "confirmed"),
                (t_new2, "backoffice", "pending"),
            ]
            if not is_lost:
                steps.append((t_conf2, "backoffice", "confirmed"))
            for ts, system, state in steps:
                event = make_status(
                    v=_V,
                    rollout_id=rid,
                    variant=variant,  # type: ignore[arg-type]
                    ts=ts,
                    segment=seg,
                    corr_id=oid,
                    object_id=oid,
                    system=system,
                    state=state,
                )
                out.append((ts, event))
        return _chunk(out)

    def heartbeats(self, m: MarketSlice, dt: float) -> Chunk:
        """Per-path market-data tick count and CPU, once a slice: a live path always reports."""
        spec, rng = self.spec, self._rng
        ts = round(self._start_ts + m.t + dt * 0.999, 6)
        variants = ["baseline"]
        if spec.canary:
            variants.append("canary")
        if spec.shadow:
            variants.append("shadow")
        out: list[tuple[float, Event]] = []
        make_metric = self._types.metric
        for variant in variants:
            if self.silent(variant, m.t):
                continue
            ticks = float(rng.poisson(model.MD_TICKS_PER_S * m.vol * dt))
            cpu = round(float(30.0 + 8.0 * m.rate_mult + rng.normal(0.0, 2.0)), 2)
            for name, value, unit in (("md_ticks", ticks, "count"), ("cpu_pct", cpu, "pct")):
                metric = make_metric(
                    v=_V,
                    rollout_id=spec.rollout_id,
                    variant=variant,  # type: ignore[arg-type]
                    ts=ts,
                    name=name,
                    value=value,
                    unit=unit,
                )
                out.append((ts, metric))
        return _chunk(out)


_EMPTY_TS = np.empty(0)
_ORDER_FIELDS = tuple(RawOrder.__struct_fields__)
_SHADOW_FIELDS = tuple(RawShadow.__struct_fields__)


def _build(
    make: type, positional: bool, fields: tuple[str, ...], columns: Sequence[Iterable[Any]]
) -> list[Event]:
    """Structs from columns: positionally in C for raw twins, by keyword for contracts."""
    rows = zip(*columns, strict=True)
    if positional:
        return list(starmap(make, rows))
    return [make(**dict(zip(fields, row, strict=True))) for row in rows]


def _chunk(pairs: list[tuple[float, Event]]) -> Chunk:
    return np.array([p[0] for p in pairs], dtype=np.float64), [p[1] for p in pairs]


def _failover_target(lp: np.ndarray, iset: np.ndarray) -> np.ndarray:
    """The next LP that quotes the instrument set (the bridge's failover order)."""
    nxt = (lp + 1) % 4
    no_quote = model.SET_LP_WEIGHTS[iset, nxt] == 0.0
    return np.where(no_quote, (lp + 2) % 4, nxt)
