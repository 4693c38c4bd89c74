"""The events of one slice, built for every rollout at once from the rollouts' draws.

The columns of all rollouts are computed together (:func:`build_slice`), so twenty small
rollouts cost about as many numpy calls per slice as one big one. Object columns (names,
segment dicts) come from fancy-indexing object arrays, and event structs are built from the
columns at the end (the only per-event work). Each rollout gets its chunks in the order it
always produced them (ties in event time keep that order); :mod:`monitor.sim.generate` orders
them and carries future ones onwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import repeat, starmap
from typing import Any

import numpy as np

from monitor.sim import model
from monitor.sim.flow import (
    EMPTY_CHUNK,
    SPELL_VARIANTS,
    VARIANT_BY_CODE,
    Chunk,
    Draws,
    chunk_from_rows,
)
from monitor.sim.market import MarketSlice
from monitor.sim.wire import EventTypes, RawOrder, RawShadow
from topics.events import SCHEMA_VERSION, Event

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


_VARIANT_OBJ = _objects(VARIANT_BY_CODE)
_STATUS_OBJ = _objects(_STATUS)
_ERROR_OBJ = _objects(_ERROR)
_CELL_OBJ = _objects(model.SEGMENT_CELLS)
_LP_OBJ = _objects(model.LPS)
_VENUE_OBJ = _objects(model.LP_VENUE)
_SYMBOL_OBJ = _objects(model.SYMBOLS)
_CURRENCY_OBJ = _objects((None, model.CURRENCY))
_OUTCOME_OBJ = _objects(("accept", "reject"))
_REASONS_OBJ = _objects(_REASONS)


def build_slice(
    draws: Sequence[Draws], m: MarketSlice, dt: float, start_ts: float, types: EventTypes
) -> list[list[Chunk]]:
    """Each rollout's chunks for the slice: orders, shadow decisions, payments, heartbeats."""
    out: list[list[Chunk]] = [[] for _ in draws]
    busy = [j for j, d in enumerate(draws) if d.n]
    if busy:
        _orders([draws[j] for j in busy], [out[j] for j in busy], m, dt, start_ts, types)
    paying = [j for j, d in enumerate(draws) if d.k_pay]
    if paying:
        _payments([draws[j] for j in paying], [out[j] for j in paying], m, dt, start_ts, types)
    for chunks, d in zip(out, draws, strict=True):
        chunks.append(d.heartbeats)
    return out


def _rows(counts: list[int]) -> tuple[list[int], np.ndarray]:
    """Segment bounds of rollouts stacked row-wise, and each row's rollout index."""
    bounds = [0]
    for c in counts:
        bounds.append(bounds[-1] + c)
    return bounds, np.repeat(np.arange(len(counts)), counts)


def _cat(arrays: list[np.ndarray], axis: int = 0) -> np.ndarray:
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays, axis=axis)


def _per_order(
    ds: Sequence[Draws],
    bounds: list[int],
    kind: str,
    t: float,
    canary: np.ndarray,
    cell: np.ndarray,
) -> np.ndarray:
    """Sum (additive kinds) of active ``kind`` faults for each row; 0 where none applies."""
    out = np.zeros(len(cell))
    for j, d in enumerate(ds):
        faults = d.flow._per_order.get(kind)
        if not faults:
            continue
        a, b = bounds[j], bounds[j + 1]
        for fault, mask in faults:
            amount = fault.additive(t) if kind != "latency" else fault.multiplier(t) - 1.0
            if amount == 0.0:
                continue
            on_variant = canary[a:b] if fault.target == "canary" else ~canary[a:b]
            out[a:b][on_variant & mask[cell[a:b]]] += amount
    return out


def _shifted_causes(
    cause: np.ndarray,
    shift: np.ndarray,
    u: np.ndarray,
    cause_w: np.ndarray,
    ds: Sequence[Draws],
    ri: np.ndarray,
) -> np.ndarray:
    """Causes drawn from ``(1 - s) w + s 1[target]`` where a ``cause_shift`` acts with
    share ``s``: the same uniform as the ordinary draw (no extra random numbers, so other
    scenarios' streams are unchanged), the reject rate untouched."""
    rows = np.flatnonzero(shift)
    target = np.array([d.flow.shift_cause for d in ds])[ri[rows]]
    s = np.minimum(shift[rows], 1.0)[:, None]
    base = np.cumsum(cause_w) / cause_w.sum()
    cum = (1.0 - s) * base[None, :] + s * (np.arange(len(base))[None, :] >= target[:, None])
    out = cause.copy()
    out[rows] = np.minimum((cum <= u[rows][:, None]).sum(axis=1), len(base) - 1)
    return out


def _silent_rows(
    ds: Sequence[Draws], bounds: list[int], canary: np.ndarray, t: float
) -> np.ndarray:
    out = np.zeros(len(canary), dtype=bool)
    for j, d in enumerate(ds):
        a, b = bounds[j], bounds[j + 1]
        out[a:b] = d.flow._silent_mask(canary[a:b], t)
    return out


def _orders(
    ds: list[Draws],
    outs: list[list[Chunk]],
    m: MarketSlice,
    dt: float,
    start_ts: float,
    types: EventTypes,
) -> None:
    """Orders of every rollout with any, stacked (rollout by rollout), then split again."""
    t = m.t
    bounds, ri = _rows([d.n for d in ds])
    n = bounds[-1]
    u = _cat([d.u for d in ds], axis=1)
    u2 = _cat([d.u2 for d in ds], axis=1)
    submit = start_ts + t + u[0] * dt
    canary = _cat([d.canary for d in ds])
    cell = np.minimum(
        np.searchsorted(model.CELL_CUM, u[2] * model.CELL_CUM[-1], side="right"),
        len(model.SEGMENT_CELLS) - 1,
    )
    iset = model.CELL_SET[cell]
    sym = model.SET_FIRST_SYMBOL[iset] + (u[3] * model.SET_SYMBOL_COUNT[iset]).astype(np.int64)
    lp = np.minimum((u[4][:, None] > model.SET_LP_CUM[iset]).sum(axis=1), 3)
    failover = u[5] < model.BASE_FAILOVER_PROB + m.lp_fail[lp]
    lp = np.where(failover, _failover_target(lp, iset), lp)

    z_latency = _cat([d.z_latency for d in ds])
    latency = model.LP_MEDIAN_MS[lp] * np.exp(model.LP_SIGMA[lp] * z_latency)
    tail = _cat([d.tail for d in ds])
    latency[tail] *= 2.0 * (1.0 + _cat([d.pareto for d in ds]))
    latency *= 1.0 + 0.35 * (m.vol - 1.0)  # busy markets load every component
    latency += 2.0 * model.REGION_NETWORK_MS[model.CELL_REGION[cell]]
    delayed = m.lp_delay_ms[lp]
    latency += delayed * np.exp(0.3 * _cat([d.z_delay for d in ds]))
    latency += failover * model.FAILOVER_PENALTY_MS * (0.5 + u2[0])
    latency *= 1.0 + _per_order(ds, bounds, "latency", t, canary, cell)
    live = _cat([d.live for d in ds])

    # outcome by stacked probabilities: errors, new-cause rejects, ordinary rejects
    err_add = _per_order(ds, bounds, "errors", t, canary, cell)
    p_timeout = model.BASE_TIMEOUT_PROB + 0.75 * err_add
    p_disc = model.BASE_DISCONNECT_PROB + 0.25 * err_add
    p_new = _per_order(ds, bounds, "rejects", t, canary, cell)
    cause_w = model.REJECT_CAUSE_WEIGHTS * np.where(model.VOLATILE_REJECT_CAUSES, m.vol, 1.0)
    p_rej = model.BASE_REJECT_PROB * float(cause_w.sum())
    u_outcome = u2[1]
    c1 = p_timeout
    c2 = c1 + p_disc
    c3 = c2 + model.BASE_INTERNAL_PROB
    c4 = c3 + p_new
    c5 = c4 + p_rej
    code = np.full(n, _FILL)
    code[u_outcome < c5] = _REJECT
    code[u_outcome < c4] = _NEW_REJECT
    code[u_outcome < c3] = _INTERNAL
    code[u_outcome < c2] = _DISCONNECT
    code[u_outcome < c1] = _TIMEOUT
    code[latency >= model.TIMEOUT_MS] = _TIMEOUT
    latency = np.minimum(latency, model.TIMEOUT_MS)
    partial = (code == _FILL) & (u2[2] < model.PARTIAL_FILL_PROB)
    code[partial] = _PARTIAL
    cause = np.searchsorted(np.cumsum(cause_w), u2[3] * cause_w.sum(), side="right")
    cause = np.minimum(cause, len(model.REJECT_CAUSES) - 1)
    shift = _per_order(ds, bounds, "cause_shift", t, canary, cell)
    if shift.any():
        cause = _shifted_causes(cause, shift, u2[3], cause_w, ds, ri)

    qty = np.maximum(np.round(np.exp(_cat([d.z_qty for d in ds])), 2), 0.01)
    fill_frac = np.where(partial, np.round(_cat([d.fill for d in ds]), 2), 1.0)
    side = np.where(_cat([d.side for d in ds]) < 0.5, -1.0, 1.0)
    ref = m.mids[sym]
    slip_bps = _cat([d.slip_bps for d in ds])
    price = ref * (1.0 + side * slip_bps / 1e4)
    pnl = model.PNL_MEAN_MINOR + model.PNL_SD_MINOR * m.vol * _cat([d.pnl_t for d in ds]) / np.sqrt(
        model.PNL_DF / (model.PNL_DF - 2.0)
    )
    pnl -= _per_order(ds, bounds, "pnl_drain", t, canary, cell)
    done_ts = submit + latency / 1000.0

    # object columns by fancy indexing (C speed); the comprehension only builds structs
    filled = code <= _PARTIAL
    reason_idx = np.where(code == _REJECT, cause + 1, 0)
    new_cause = code == _NEW_REJECT
    reason_idx[new_cause] = len(_REASONS) - 2
    reason_idx[code == _INTERNAL] = len(_REASONS) - 1
    error_idx = np.where(reason_idx == _OFF_QUOTES_IDX, _ERR_OFF_QUOTES, code)
    reason_col = _REASONS_OBJ[reason_idx]
    if new_cause.any():  # each rollout names its own new cause
        reason_col[new_cause] = _objects(tuple(d.flow._cause for d in ds))[ri[new_cause]]
    price_col = np.round(price, 6).astype(object)
    price_col[~filled] = None
    pnl_col = np.rint(pnl).astype(np.int64).astype(object)
    pnl_col[~filled] = None
    rid_obj = _objects(tuple(d.flow.spec.rollout_id for d in ds))
    spell0 = np.array([d.flow.spell0 for d in ds])[ri]
    number = np.arange(n) - np.asarray(bounds[:-1])[ri] + np.array([d.first for d in ds])[ri]
    sel = np.flatnonzero(live)
    rids = rid_obj[ri[sel]].tolist()
    oids = [f"{r}-{i}" for r, i in zip(rids, number[sel].tolist(), strict=True)]
    ts_col = np.round(done_ts[sel], 6)
    codes = (spell0 + canary)[sel]
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
        reason_col[sel].tolist(),
        _ERROR_OBJ[error_idx[sel]].tolist(),
        pnl_col[sel].tolist(),
        _CURRENCY_OBJ[filled[sel].astype(np.int64)].tolist(),
        failover[sel].tolist(),
        repeat(SCHEMA_VERSION, len(oids)),
        rids,
        _VARIANT_OBJ[canary[sel].astype(np.int64)].tolist(),
        ts_col.tolist(),
        _CELL_OBJ[cell[sel]].tolist(),
        oids,
    )
    events = _build(types.order, types.positional, _ORDER_FIELDS, columns)
    cut = np.cumsum(np.bincount(ri[sel], minlength=len(ds))).tolist()
    a = 0
    for chunks, b in zip(outs, cut, strict=True):
        chunks.append((ts_col[a:b], codes[a:b], events[a:b]))
        a = b

    shadow_on = [d.mirrored is not None for d in ds]
    if not any(shadow_on):
        return
    mirrored = _cat([d.mirrored if d.mirrored is not None else np.zeros(d.n, bool) for d in ds])
    idx = np.flatnonzero(mirrored)
    oid_col = np.empty(n, dtype=object)
    oid_col[sel] = oids  # a mirrored order is a live one: reuse its id
    chunks_by_rollout = _shadow(
        ds, m, idx, ri, submit, code, lp, price, ref, cell, oid_col, rid_obj, spell0, types
    )
    for chunks, on, chunk in zip(outs, shadow_on, chunks_by_rollout, strict=True):
        if on:
            chunks.append(chunk)


def _shadow(
    ds: list[Draws],
    m: MarketSlice,
    idx: np.ndarray,
    ri: np.ndarray,
    submit: np.ndarray,
    code: np.ndarray,
    lp: np.ndarray,
    price: np.ndarray,
    ref: np.ndarray,
    cell: np.ndarray,
    oid_col: np.ndarray,
    rid_obj: np.ndarray,
    spell0: np.ndarray,
    types: EventTypes,
) -> list[Chunk]:
    """Production's routing decision and the shadow path's, joined by correlation id."""
    k = len(idx)
    if k == 0:
        return [EMPTY_CHUNK] * len(ds)
    t = m.t
    sri = ri[idx]
    u = _cat([d.shadow_u for d in ds if len(d.shadow_px)], axis=1)
    z = _cat([d.shadow_z for d in ds if len(d.shadow_px)], axis=1)
    p_route = np.array(
        [
            model.SHADOW_BASE_ROUTE_MISMATCH + d.flow._amount("shadow_mismatch", t, "shadow")
            for d in ds
        ]
    )[sri]
    route = lp[idx]
    moved = u[0] < p_route
    shadow_route = np.where(moved, (route + 1 + (u[1] * 3).astype(np.int64)) % 4, route)
    c = code[idx]
    rejected = (c == _REJECT) | (c == _NEW_REJECT) | (c == _INTERNAL)
    flipped = u[2] < model.SHADOW_BASE_OUTCOME_MISMATCH
    shadow_rejected = rejected ^ flipped
    prod_ms = model.SHADOW_DECISION_MEDIAN_MS * np.exp(0.4 * z[0])
    shadow_ms = model.SHADOW_DECISION_MEDIAN_MS * np.exp(0.4 * z[1])
    prod_ts = submit[idx] + prod_ms / 1000.0
    lag = model.SHADOW_LAG_MEDIAN_S * np.exp(0.5 * z[2])
    shadow_ts = prod_ts + lag + shadow_ms / 1000.0
    px = np.where(rejected, ref[idx], price[idx])
    shadow_px = px * (1.0 + _cat([d.shadow_px for d in ds if len(d.shadow_px)]) / 1e4)
    oids = oid_col[idx].tolist()
    rids = rid_obj[sri].tolist()
    segs = _CELL_OBJ[cell[idx]].tolist()
    prod_ts_col = np.round(prod_ts, 6)
    shadow_ts_col = np.round(shadow_ts, 6)
    prod = _build(
        types.shadow,
        types.positional,
        _SHADOW_FIELDS,
        (
            _LP_OBJ[route].tolist(),
            _OUTCOME_OBJ[rejected.astype(np.int64)].tolist(),
            np.round(px, 6).tolist(),
            repeat(None, k),
            np.round(prod_ms, 3).tolist(),
            repeat(False, k),
            repeat(SCHEMA_VERSION, k),
            rids,
            repeat("baseline", k),
            prod_ts_col.tolist(),
            segs,
            oids,
        ),
    )
    mirrored = _build(
        types.shadow,
        types.positional,
        _SHADOW_FIELDS,
        (
            _LP_OBJ[shadow_route].tolist(),
            _OUTCOME_OBJ[shadow_rejected.astype(np.int64)].tolist(),
            np.round(shadow_px, 6).tolist(),
            repeat(None, k),
            np.round(shadow_ms, 3).tolist(),
            repeat(False, k),
            repeat(SCHEMA_VERSION, k),
            rids,
            repeat("shadow", k),
            shadow_ts_col.tolist(),
            segs,
            oids,
        ),
    )
    # each rollout's production decisions (baseline), then its shadow decisions
    prod_codes = spell0[idx]
    shadow_codes = prod_codes + SPELL_VARIANTS.index("shadow")
    out: list[Chunk] = []
    a = 0
    for b in np.cumsum(np.bincount(sri, minlength=len(ds))).tolist():
        if b == a:
            out.append(EMPTY_CHUNK)
            continue
        ts = np.concatenate([prod_ts_col[a:b], shadow_ts_col[a:b]])
        codes = np.concatenate([prod_codes[a:b], shadow_codes[a:b]])
        out.append((ts, codes, prod[a:b] + mirrored[a:b]))
        a = b
    return out


def _payments(
    ds: list[Draws],
    outs: list[list[Chunk]],
    m: MarketSlice,
    dt: float,
    start_ts: float,
    types: EventTypes,
) -> None:
    """Payments whose state the payments system and the back office both report."""
    t = m.t
    bounds, ri = _rows([d.k_pay for d in ds])
    u = _cat([d.pay_u for d in ds], axis=1)
    z = _cat([d.pay_z for d in ds], axis=1)
    created = start_ts + t + u[0] * dt
    canary = u[1] < np.array([d.flow.share for d in ds])[ri]
    cell = np.minimum(
        np.searchsorted(model.CELL_CUM, u[2] * model.CELL_CUM[-1], side="right"),
        len(model.SEGMENT_CELLS) - 1,
    )
    confirm = created + model.CONFIRM_MEDIAN_S * np.exp(0.5 * z[0])
    lag1, lag2 = (
        np.minimum(
            model.PROPAGATION_MEDIAN_S * np.exp(model.PROPAGATION_SIGMA * z[i]),
            model.PROPAGATION_MAX_S,
        )
        for i in (1, 2)
    )
    lost = _cat([d.pay_lost for d in ds]) < _per_order(
        ds, bounds, "status_mismatch", t, canary, cell
    )
    live = ~_silent_rows(ds, bounds, canary, t)
    make_status = types.status
    rows = zip(
        ri.tolist(),
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
    rows_by_rollout: list[list[tuple[float, int, Event]]] = [[] for _ in ds]
    for i, (j, can, c, t_new, t_conf, t_new2, t_conf2, is_lost, is_live) in enumerate(rows):
        if not is_live:
            continue
        d = ds[j]
        rid = d.flow.spec.rollout_id
        oid = f"{rid}-pay-{d.first_pay + i - bounds[j]}"
        variant = VARIANT_BY_CODE[can]
        spell = d.flow.spell0 + can
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
                v=SCHEMA_VERSION,
                rollout_id=rid,
                variant=variant,
                ts=ts,
                segment=seg,
                corr_id=oid,
                object_id=oid,
                system=system,
                state=state,
            )
            rows_by_rollout[j].append((ts, spell, event))
    for chunks, out in zip(outs, rows_by_rollout, strict=True):
        chunks.append(chunk_from_rows(out))


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


def _failover_target(lp: np.ndarray, iset: np.ndarray) -> np.ndarray:
    """The next LP that quotes the instrument set (the bridge's failover order)."""
    nxt = (lp + 1) % 4
    no_quote = model.SET_LP_WEIGHTS[iset, nxt] == 0.0
    return np.where(no_quote, (lp + 2) % 4, nxt)
