"""A checkpoint packed a few rollouts at a time between rounds restores the same states as
applying everything straight through: each rollout resumes at the offset it was packed at,
its own (silence) events included, which source marks do not cover."""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition

from monitor.worker.checkpoint import Checkpoint
from monitor.worker.envelope import SELF_SOURCE, encode_envelope
from monitor.worker.partition import checkpoint_of, pack_some, restore
from monitor.worker.processor import Processor
from tests.integration.worker.threshold_core import ThresholdCore
from tests.unit.worker.pipeline import Pipeline
from tests.unit.worker.records import Record
from topics.codec import encode_event
from topics.events import Event, Metric, Silence

TP = TopicPartition("by", 0)
T0 = 1.7e9


def metrics(rid: str, first: int, values: list[float]) -> Record:
    """Record ``first`` (its offset): canary error rates of ``rid``, one a second."""
    events: list[Event] = [
        Metric(
            v=1,
            rollout_id=rid,
            variant="canary",
            ts=T0 + first * 10 + i,
            name="error_rate",
            value=v,
        )
        for i, v in enumerate(values)
    ]
    positions = [first * 100 + i for i in range(len(events))]
    raws = [encode_event(e) for e in events]
    return Record(first, encode_envelope(0, positions, raws, 0, rid))


def silence(rid: str, offset: int) -> Record:
    event = Silence(v=1, rollout_id=rid, variant="canary", ts=T0 + offset * 10, silent_s=40.0)
    return Record(offset, encode_envelope(SELF_SOURCE, [0], [encode_event(event)], 0, rid))


RECORDS = [
    metrics("a", 0, [0.2] * 8),  # a pauses
    metrics("b", 1, [0.01] * 3),
    metrics("b", 2, [0.2] * 8),  # b pauses
    metrics("a", 3, [0.01] * 8),  # a proceeds: after a was packed
    silence("b", 4),  # b freezes: before b was packed
    metrics("b", 5, [0.01] * 3),
    metrics("a", 6, [0.2] * 8),  # after both were packed
    metrics("b", 7, [0.01] * 8),
]


def processor() -> Processor:
    made = Pipeline(ThresholdCore()).processor
    made.reject_clock_skew = False  # the events are of 2023
    return made


def test_rollouts_packed_at_different_offsets_restore_what_a_straight_run_has() -> None:
    async def go() -> None:
        straight = processor()
        await straight.round({TP: RECORDS})

        sliced = processor()
        state = sliced.owned[0]
        await sliced.round({TP: RECORDS[:3]})
        state.cycle = state.next_offset
        assert not pack_some(sliced.core, state, 0.0)  # one rollout a slice: a, at 3
        await sliced.round({TP: RECORDS[3:6]})
        assert pack_some(sliced.core, state, 0.0)  # then b, at 6
        checkpoint = Checkpoint.decode(checkpoint_of(0, state).encode())
        assert (checkpoint.offset, checkpoint.resume) == (3, {"b": 6})

        restored = processor()
        restored.owned[0] = restore(0, checkpoint, restored.core, restored.metrics)
        await restored.round({TP: RECORDS[checkpoint.offset :]})
        for rid in ("a", "b"):  # counts and decisions: an event twice or missed shows
            assert restored.core.export_state(rid) == straight.core.export_state(rid)
        assert restored.core.export_state("b")["n"] == 23  # its silence applied once

        again = processor()  # restored twice: the resume offsets carry over
        again.owned[0] = restore(0, checkpoint, again.core, again.metrics)
        await again.round({TP: RECORDS[3:4]})
        state = again.owned[0]
        assert pack_some(again.core, state, 1.0)  # a changed: packed at 4
        second = checkpoint_of(0, state)
        assert (second.offset, second.resume) == (4, {"b": 6})

    asyncio.run(go())
