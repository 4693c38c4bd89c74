"""The events of one slice, built for every rollout at once from the rollouts' draws.

The columns of all rollouts are computed together (:func:`build_slice`), so twenty small
rollouts cost about as many numpy calls per slice as one big one. Object columns (names,
segment dicts) come from fancy-indexing object arrays, and event structs are built from the
columns at the end (the only per-event work). Each rollout gets its chunks in the order it
always produced them (ties in event time keep that order); :mod:`monitor.sim.generate` orders
them and carries future ones onwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat

import numpy as np

from monitor.sim import model
from monitor.sim.flow import Chunk, Draws
from monitor.sim.market import MarketSlice
from monitor.sim.payments import payment_chunks
from monitor.sim.rows import (
    CELL_OBJ,
    CURRENCY_OBJ,
    DISCONNECT,
    ERR_OFF_QUOTES,
    ERROR_OBJ,
    FILL,
    INTERNAL,
    LP_OBJ,
    NEW_REJECT,
    OFF_QUOTES_IDX,
    ORDER_FIELDS,
    PARTIAL,
    REASONS,
    REASONS_OBJ,
    REJECT,
    STATUS_OBJ,
    SYMBOL_OBJ,
    TIMEOUT,
    VARIANT_OBJ,
    VENUE_OBJ,
    concat,
    objects,
    per_order_faults,
    stack_rows,
    structs,
)
from monitor.sim.shadows import shadow_chunks
from monitor.sim.wire import EventTypes
from topics.events import SCHEMA_VERSION


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
        payment_chunks([draws[j] for j in paying], [out[j] for j in paying], m, dt, start_ts, types)
    for chunks, d in zip(out, draws, strict=True):
        chunks.append(d.heartbeats)
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
    bounds, ri = stack_rows([d.n for d in ds])
    n = bounds[-1]
    u = concat([d.u for d in ds], axis=1)
    u2 = concat([d.u2 for d in ds], axis=1)
    submit = start_ts + t + u[0] * dt
    canary = concat([d.canary for d in ds])
    cell = np.minimum(
        np.searchsorted(model.CELL_CUM, u[2] * model.CELL_CUM[-1], side="right"),
        len(model.SEGMENT_CELLS) - 1,
    )
    iset = model.CELL_SET[cell]
    sym = model.SET_FIRST_SYMBOL[iset] + (u[3] * model.SET_SYMBOL_COUNT[iset]).astype(np.int64)
    lp = np.minimum((u[4][:, None] > model.SET_LP_CUM[iset]).sum(axis=1), 3)
    failover = u[5] < model.BASE_FAILOVER_PROB + m.lp_fail[lp]
    lp = np.where(failover, _failover_target(lp, iset), lp)

    z_latency = concat([d.z_latency for d in ds])
    latency = model.LP_MEDIAN_MS[lp] * np.exp(model.LP_SIGMA[lp] * z_latency)
    tail = concat([d.tail for d in ds])
    latency[tail] *= 2.0 * (1.0 + concat([d.pareto for d in ds]))
    latency *= 1.0 + 0.35 * (m.vol - 1.0)  # busy markets load every component
    latency += 2.0 * model.REGION_NETWORK_MS[model.CELL_REGION[cell]]
    delayed = m.lp_delay_ms[lp]
    latency += delayed * np.exp(0.3 * concat([d.z_delay for d in ds]))
    latency += failover * model.FAILOVER_PENALTY_MS * (0.5 + u2[0])
    latency *= 1.0 + per_order_faults(ds, bounds, "latency", t, canary, cell)
    live = concat([d.live for d in ds])

    # outcome by stacked probabilities: errors, new-cause rejects, ordinary rejects
    err_add = per_order_faults(ds, bounds, "errors", t, canary, cell)
    p_timeout = model.BASE_TIMEOUT_PROB + 0.75 * err_add
    p_disc = model.BASE_DISCONNECT_PROB + 0.25 * err_add
    p_new = per_order_faults(ds, bounds, "rejects", t, canary, cell)
    cause_w = model.REJECT_CAUSE_WEIGHTS * np.where(model.VOLATILE_REJECT_CAUSES, m.vol, 1.0)
    p_rej = model.BASE_REJECT_PROB * float(cause_w.sum())
    u_outcome = u2[1]
    c1 = p_timeout
    c2 = c1 + p_disc
    c3 = c2 + model.BASE_INTERNAL_PROB
    c4 = c3 + p_new
    c5 = c4 + p_rej
    code = np.full(n, FILL)
    code[u_outcome < c5] = REJECT
    code[u_outcome < c4] = NEW_REJECT
    code[u_outcome < c3] = INTERNAL
    code[u_outcome < c2] = DISCONNECT
    code[u_outcome < c1] = TIMEOUT
    code[latency >= model.TIMEOUT_MS] = TIMEOUT
    latency = np.minimum(latency, model.TIMEOUT_MS)
    partial = (code == FILL) & (u2[2] < model.PARTIAL_FILL_PROB)
    code[partial] = PARTIAL
    cause = np.searchsorted(np.cumsum(cause_w), u2[3] * cause_w.sum(), side="right")
    cause = np.minimum(cause, len(model.REJECT_CAUSES) - 1)
    shift = per_order_faults(ds, bounds, "cause_shift", t, canary, cell)
    if shift.any():
        cause = _shifted_causes(cause, shift, u2[3], cause_w, ds, ri)

    qty = np.maximum(np.round(np.exp(concat([d.z_qty for d in ds])), 2), 0.01)
    fill_frac = np.where(partial, np.round(concat([d.fill for d in ds]), 2), 1.0)
    side = np.where(concat([d.side for d in ds]) < 0.5, -1.0, 1.0)
    ref = m.mids[sym]
    slip_bps = concat([d.slip_bps for d in ds])
    price = ref * (1.0 + side * slip_bps / 1e4)
    pnl = model.PNL_MEAN_MINOR + model.PNL_SD_MINOR * m.vol * concat(
        [d.pnl_t for d in ds]
    ) / np.sqrt(model.PNL_DF / (model.PNL_DF - 2.0))
    pnl -= per_order_faults(ds, bounds, "pnl_drain", t, canary, cell)
    done_ts = submit + latency / 1000.0

    # object columns by fancy indexing (C speed); the comprehension only builds structs
    filled = code <= PARTIAL
    reason_idx = np.where(code == REJECT, cause + 1, 0)
    new_cause = code == NEW_REJECT
    reason_idx[new_cause] = len(REASONS) - 2
    reason_idx[code == INTERNAL] = len(REASONS) - 1
    error_idx = np.where(reason_idx == OFF_QUOTES_IDX, ERR_OFF_QUOTES, code)
    reason_col = REASONS_OBJ[reason_idx]
    if new_cause.any():  # each rollout names its own new cause
        reason_col[new_cause] = objects(tuple(d.flow._cause for d in ds))[ri[new_cause]]
    price_col = np.round(price, 6).astype(object)
    price_col[~filled] = None
    pnl_col = np.rint(pnl).astype(np.int64).astype(object)
    pnl_col[~filled] = None
    rid_obj = objects(tuple(d.flow.spec.rollout_id for d in ds))
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
        STATUS_OBJ[code[sel]].tolist(),
        np.round(latency[sel], 3).tolist(),
        LP_OBJ[lp[sel]].tolist(),
        VENUE_OBJ[lp[sel]].tolist(),
        SYMBOL_OBJ[sym[sel]].tolist(),
        qty[sel].tolist(),
        np.where(filled, np.round(qty * fill_frac, 2), 0.0)[sel].tolist(),
        price_col[sel].tolist(),
        np.round(ref[sel], 6).tolist(),
        reason_col[sel].tolist(),
        ERROR_OBJ[error_idx[sel]].tolist(),
        pnl_col[sel].tolist(),
        CURRENCY_OBJ[filled[sel].astype(np.int64)].tolist(),
        failover[sel].tolist(),
        repeat(SCHEMA_VERSION, len(oids)),
        rids,
        VARIANT_OBJ[canary[sel].astype(np.int64)].tolist(),
        ts_col.tolist(),
        CELL_OBJ[cell[sel]].tolist(),
        oids,
    )
    events = structs(types.order, types.positional, ORDER_FIELDS, columns)
    cut = np.cumsum(np.bincount(ri[sel], minlength=len(ds))).tolist()
    a = 0
    for chunks, b in zip(outs, cut, strict=True):
        chunks.append((ts_col[a:b], codes[a:b], events[a:b]))
        a = b

    shadow_on = [d.mirrored is not None for d in ds]
    if not any(shadow_on):
        return
    mirrored = concat([d.mirrored if d.mirrored is not None else np.zeros(d.n, bool) for d in ds])
    idx = np.flatnonzero(mirrored)
    oid_col = np.empty(n, dtype=object)
    oid_col[sel] = oids  # a mirrored order is a live one: reuse its id
    chunks_by_rollout = shadow_chunks(
        ds, m, idx, ri, submit, code, lp, price, ref, cell, oid_col, rid_obj, spell0, types
    )
    for chunks, on, chunk in zip(outs, shadow_on, chunks_by_rollout, strict=True):
        if on:
            chunks.append(chunk)


def _failover_target(lp: np.ndarray, iset: np.ndarray) -> np.ndarray:
    """The next LP that quotes the instrument set (the bridge's failover order)."""
    nxt = (lp + 1) % 4
    no_quote = model.SET_LP_WEIGHTS[iset, nxt] == 0.0
    return np.where(no_quote, (lp + 2) % 4, nxt)
