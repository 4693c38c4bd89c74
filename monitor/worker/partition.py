"""What the processor holds of one owned ``by_rollout`` partition, and its checkpoints.

:class:`PartitionState` is exactly "all events below ``next_offset`` applied"; a checkpoint
(:mod:`monitor.worker.checkpoint`) is that state with the core's states of its rollouts.
:func:`restore` makes the state again from one.

Making a checkpoint exports the state of every rollout that changed since its last one, and
the product core's export is ~10-30 ms per busy rollout: a partition's dozen rollouts
exported at once stopped the worker's loop for a few hundred milliseconds, and every decision
behind them waited as long. So the processor packs them a few at a time between rounds
(:func:`pack_some`), and each rollout's state is kept with the offset it was packed at and
its marks of that moment. The checkpoint (:func:`checkpoint_of`) starts at the oldest of
those offsets; a rollout packed later resumes at its own (``Checkpoint.resume``): restored,
it applies exactly the events it did not have when packed. The rollouts of a partition are
independent of each other in the core, so these states, taken at different offsets, restore
the same decisions as one taken at once. :func:`snapshot` packs them all at once (revocation
and stop: the checkpoint is needed now).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
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
    packed_at: dict[str, int] = field(default_factory=dict)
    """rollout id -> ``next_offset`` when its state was last packed."""
    marks_at: Marks = field(default_factory=dict)
    """rollout id -> its ``hwm`` marks when its state was last packed."""
    resume: dict[str, int] = field(default_factory=dict)
    """After a restore: rollout id -> offset its events apply from (``Checkpoint.resume``)."""
    cycle: int | None = None
    """``next_offset`` when the checkpoint being packed began (None: none is)."""
    lag: int = 0
    """``by_rollout`` records behind the end of the partition, as last seen."""
    taken_s: float = field(default_factory=time.monotonic)
    """When its last checkpoint began (or it was assigned): paces the next one."""
    written_s: float = field(default_factory=time.monotonic)
    """When the state its last acked checkpoint holds began (or it was assigned)."""

    def skipped(self, rollout_id: str, offset: int) -> bool:
        """Whether the events of ``rollout_id`` in record ``offset`` are in its restored
        state already (``resume``); forgets ``resume`` once past all of it."""
        start = self.resume.get(rollout_id)
        if start is None:
            return False
        if offset >= start:
            del self.resume[rollout_id]
            return False
        return True


def behind(state: PartitionState) -> list[str]:
    """Rollouts to pack before the checkpoint being made can be written: changed (or never
    packed) and last packed before it began."""
    begun = state.next_offset if state.cycle is None else state.cycle
    return [
        rid
        for rid in state.hwm
        if (rid in state.changed or rid not in state.packed_at)
        and state.packed_at.get(rid, -1) < begun
    ]


def pack(core: CoreProtocol, state: PartitionState, rollouts: Iterable[str]) -> None:
    """Pack the states of ``rollouts`` as they are now, with this offset and their marks.
    Raises when the core cannot export one (the checkpoint is not written then)."""
    known = set(core.rollouts())  # events of unbound rollouts leave no core state
    for rid in rollouts:
        if rid in known:
            state.packed[rid] = pack_state(core.export_state(rid))
        state.packed_at[rid] = state.next_offset
        state.marks_at[rid] = dict(state.hwm.get(rid, {}))
        state.changed.discard(rid)


def pack_some(core: CoreProtocol, state: PartitionState, budget_s: float) -> bool:
    """Pack rollouts of the checkpoint being made for about ``budget_s`` (at least one);
    True once none is left to pack."""
    todo = behind(state)
    started = time.perf_counter()
    for rid in todo:
        pack(core, state, (rid,))
        if time.perf_counter() - started >= budget_s:
            return rid is todo[-1]
    return True


def checkpoint_of(q: int, state: PartitionState) -> Checkpoint:
    """Partition ``q``'s checkpoint from the states packed so far (all of :func:`behind`
    packed): from the oldest offset a rollout changed since was packed at, each rollout
    packed later resuming at its own."""
    since = [rid for rid in state.hwm if rid in state.changed]
    offset = min((state.packed_at[rid] for rid in since), default=state.next_offset)
    hwm = {
        rid: dict(state.marks_at[rid] if rid in state.changed else marks)
        for rid, marks in state.hwm.items()
    }
    # every rollout packed after ``offset`` has the events between in its state already
    # (changed since or not: its own silence events among them are not in the marks)
    resume = {rid: at for rid in state.hwm if (at := state.packed_at.get(rid, offset)) > offset}
    return Checkpoint(q, offset, hwm, dict(state.packed), resume=resume)


def snapshot(
    core: CoreProtocol, owned: dict[int, PartitionState], partitions: list[int], all_: bool
) -> list[Checkpoint]:
    """Checkpoints of the changed (with ``all_``: all) ``partitions`` of ``owned`` as they
    are now, the states of their changed rollouts packed now. A partition whose state the
    core cannot export is left out: its older checkpoint stays rather than a wrong one."""
    out: list[Checkpoint] = []
    for q in partitions:
        state = owned.get(q)
        if state is None or not (state.dirty or all_):
            continue
        state.cycle = None
        try:
            pack(core, state, behind(state))
        except Exception:  # keep the older checkpoint rather than write a wrong one
            log.exception("processor: state of partition %d not exportable", q)
            continue
        out.append(checkpoint_of(q, state))
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
    state.resume = dict(checkpoint.resume)
    for rid in state.hwm:
        state.packed_at[rid] = checkpoint.resume.get(rid, checkpoint.offset)
        state.marks_at[rid] = dict(state.hwm[rid])
    return state
