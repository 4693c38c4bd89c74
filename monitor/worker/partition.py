"""What the processor holds of one owned ``by_rollout`` partition, and its checkpoints.

:class:`PartitionState` is exactly "all events below ``next_offset`` applied"; a checkpoint
(:mod:`monitor.worker.checkpoint`) is that state with the core's states of its rollouts.
:func:`snapshot` makes checkpoints of it, :func:`restore` makes it again from one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from monitor.core.api import CoreProtocol
from monitor.worker.checkpoint import Checkpoint, pack_state, unpack_state
from monitor.worker.metrics import WorkerMetrics
from monitor.worker.take import Marks

log = logging.getLogger(__name__)


@dataclass
class PartitionState:
    next_offset: int = 0
    hwm: Marks = field(default_factory=dict)
    """rollout id -> {telemetry partition: highest source offset applied}"""
    dirty: bool = False
    changed: set[str] = field(default_factory=set)
    """Rollouts that received events since their state was last packed."""
    packed: dict[str, bytes] = field(default_factory=dict)
    """rollout id -> its state as last packed (valid while it receives no events: the core
    changes a rollout's state only through that rollout's events)."""
    lag: int = 0
    """``by_rollout`` records behind the end of the partition, as last seen."""


def snapshot(
    core: CoreProtocol, owned: dict[int, PartitionState], partitions: list[int], all_: bool
) -> list[Checkpoint]:
    """Checkpoints of the changed (with ``all_``: all) ``partitions`` of ``owned`` as they
    are now, the states of their changed rollouts packed now. A partition whose state the
    core cannot export is left out: its older checkpoint stays rather than a wrong one."""
    known = set(core.rollouts())  # events of unbound rollouts leave no core state
    out: list[Checkpoint] = []
    for q in partitions:
        state = owned.get(q)
        if state is None or not (state.dirty or all_):
            continue
        try:
            for rid in [r for r in state.hwm if r in state.changed or r not in state.packed]:
                if rid in known:
                    state.packed[rid] = pack_state(core.export_state(rid))
                state.changed.discard(rid)
        except Exception:  # keep the older checkpoint rather than write a wrong one
            log.exception("processor: state of partition %d not exportable", q)
            continue
        hwm = {rid: dict(marks) for rid, marks in state.hwm.items()}
        out.append(Checkpoint(q, state.next_offset, hwm, dict(state.packed)))
    return out


def restore(
    q: int, checkpoint: Checkpoint | None, core: CoreProtocol, metrics: WorkerMetrics
) -> PartitionState:
    """Partition ``q``'s state from its checkpoint, its rollouts' states imported into
    ``core``; an empty state (replay ``q`` from its start: slower, still exact) without a
    usable checkpoint."""
    state = PartitionState()
    if checkpoint is None:
        return state
    try:
        for rid in checkpoint.hwm:
            core.forget(rid)
        for rid, packed in checkpoint.states.items():
            core.import_state(rid, unpack_state(packed))
            state.packed[rid] = packed
        state.hwm = checkpoint.hwm
    except Exception:  # unusable checkpoint: replaying the partition is slower, still exact
        log.exception("checkpoint of partition %d unusable; replaying from the start", q)
        metrics.checkpoints_unusable.labels("import").inc()
        for rid in checkpoint.hwm:
            core.forget(rid)
        return PartitionState()
    state.next_offset = checkpoint.offset
    return state
