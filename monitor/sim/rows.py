"""What the column builders share: integer codes and the object arrays that name them, rollouts
stacked row-wise, the faults that act on each row, and event structs built from columns.

Split from :mod:`monitor.sim.columns` (orders), :mod:`monitor.sim.shadows` and
:mod:`monitor.sim.payments`, which build one kind of event each.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import starmap
from typing import Any

import numpy as np

from monitor.sim import model
from monitor.sim.flow import VARIANT_BY_CODE, Draws
from monitor.sim.wire import RawOrder, RawShadow
from topics.events import Event

# status codes of an order's terminal event
FILL, PARTIAL, REJECT, NEW_REJECT, TIMEOUT, DISCONNECT, INTERNAL = range(7)
STATUS_NAMES = (
    "filled",
    "partially_filled",
    "rejected",
    "rejected",
    "timed_out",
    "cancelled",
    "rejected",
)
ERROR_NAMES = (None, None, None, None, "timeout", "disconnect", "internal", "off_quotes")
ERR_OFF_QUOTES = 7
REASONS = (None, *model.REJECT_CAUSES, "new_cause", "internal_error")
OFF_QUOTES_IDX = REASONS.index("off_quotes")


def objects(values: tuple[object, ...]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


VARIANT_OBJ = objects(VARIANT_BY_CODE)
STATUS_OBJ = objects(STATUS_NAMES)
ERROR_OBJ = objects(ERROR_NAMES)
CELL_OBJ = objects(model.SEGMENT_CELLS)
LP_OBJ = objects(model.LPS)
VENUE_OBJ = objects(model.LP_VENUE)
SYMBOL_OBJ = objects(model.SYMBOLS)
CURRENCY_OBJ = objects((None, model.CURRENCY))
OUTCOME_OBJ = objects(("accept", "reject"))
REASONS_OBJ = objects(REASONS)


def stack_rows(counts: list[int]) -> tuple[list[int], np.ndarray]:
    """Segment bounds of rollouts stacked row-wise, and each row's rollout index."""
    bounds = [0]
    for c in counts:
        bounds.append(bounds[-1] + c)
    return bounds, np.repeat(np.arange(len(counts)), counts)


def concat(arrays: list[np.ndarray], axis: int = 0) -> np.ndarray:
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays, axis=axis)


def per_order_faults(
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


def silent_rows(ds: Sequence[Draws], bounds: list[int], canary: np.ndarray, t: float) -> np.ndarray:
    out = np.zeros(len(canary), dtype=bool)
    for j, d in enumerate(ds):
        a, b = bounds[j], bounds[j + 1]
        out[a:b] = d.flow._silent_mask(canary[a:b], t)
    return out


ORDER_FIELDS = tuple(RawOrder.__struct_fields__)
SHADOW_FIELDS = tuple(RawShadow.__struct_fields__)


def structs(
    make: type, positional: bool, fields: tuple[str, ...], columns: Sequence[Iterable[Any]]
) -> list[Event]:
    """Structs from columns: positionally in C for raw twins, by keyword for contracts."""
    rows = zip(*columns, strict=True)
    if positional:
        return list(starmap(make, rows))
    return [make(**dict(zip(fields, row, strict=True))) for row in rows]
