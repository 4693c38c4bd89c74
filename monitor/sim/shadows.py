"""Shadow-path decisions of a slice: production's routing decision and the shadow path's for a
share of the orders, joined by correlation id (mismatched routes and outcomes, price deviation
and decision lag as the rollout's faults set them)."""

from __future__ import annotations

from itertools import repeat

import numpy as np

from monitor.sim import model
from monitor.sim.flow import EMPTY_CHUNK, SPELL_VARIANTS, Chunk, Draws
from monitor.sim.market import MarketSlice
from monitor.sim.rows import (
    CELL_OBJ,
    INTERNAL,
    LP_OBJ,
    NEW_REJECT,
    OUTCOME_OBJ,
    REJECT,
    SHADOW_FIELDS,
    concat,
    structs,
)
from monitor.sim.wire import EventTypes
from topics.events import SCHEMA_VERSION


def shadow_chunks(
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
    u = concat([d.shadow_u for d in ds if len(d.shadow_px)], axis=1)
    z = concat([d.shadow_z for d in ds if len(d.shadow_px)], axis=1)
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
    rejected = (c == REJECT) | (c == NEW_REJECT) | (c == INTERNAL)
    flipped = u[2] < model.SHADOW_BASE_OUTCOME_MISMATCH
    shadow_rejected = rejected ^ flipped
    prod_ms = model.SHADOW_DECISION_MEDIAN_MS * np.exp(0.4 * z[0])
    shadow_ms = model.SHADOW_DECISION_MEDIAN_MS * np.exp(0.4 * z[1])
    prod_ts = submit[idx] + prod_ms / 1000.0
    lag = model.SHADOW_LAG_MEDIAN_S * np.exp(0.5 * z[2])
    shadow_ts = prod_ts + lag + shadow_ms / 1000.0
    px = np.where(rejected, ref[idx], price[idx])
    shadow_px = px * (1.0 + concat([d.shadow_px for d in ds if len(d.shadow_px)]) / 1e4)
    oids = oid_col[idx].tolist()
    rids = rid_obj[sri].tolist()
    segs = CELL_OBJ[cell[idx]].tolist()
    prod_ts_col = np.round(prod_ts, 6)
    shadow_ts_col = np.round(shadow_ts, 6)
    prod = structs(
        types.shadow,
        types.positional,
        SHADOW_FIELDS,
        (
            LP_OBJ[route].tolist(),
            OUTCOME_OBJ[rejected.astype(np.int64)].tolist(),
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
    mirrored = structs(
        types.shadow,
        types.positional,
        SHADOW_FIELDS,
        (
            LP_OBJ[shadow_route].tolist(),
            OUTCOME_OBJ[shadow_rejected.astype(np.int64)].tolist(),
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
