"""Payment status events of a slice: one payment's state as the payments system and the back
office each report it (a status mismatch fault delays or drops the second report)."""

from __future__ import annotations

import numpy as np

from monitor.sim import model
from monitor.sim.flow import VARIANT_BY_CODE, Chunk, Draws, chunk_from_rows
from monitor.sim.market import MarketSlice
from monitor.sim.rows import (
    concat,
    per_order_faults,
    silent_rows,
    stack_rows,
)
from monitor.sim.wire import EventTypes
from topics.events import SCHEMA_VERSION, Event


def payment_chunks(
    ds: list[Draws],
    outs: list[list[Chunk]],
    m: MarketSlice,
    dt: float,
    start_ts: float,
    types: EventTypes,
) -> None:
    """Payments whose state the payments system and the back office both report."""
    t = m.t
    bounds, ri = stack_rows([d.k_pay for d in ds])
    u = concat([d.pay_u for d in ds], axis=1)
    z = concat([d.pay_z for d in ds], axis=1)
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
    lost = concat([d.pay_lost for d in ds]) < per_order_faults(
        ds, bounds, "status_mismatch", t, canary, cell
    )
    live = ~silent_rows(ds, bounds, canary, t)
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
