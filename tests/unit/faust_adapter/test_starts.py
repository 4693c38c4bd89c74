"""The start gate: after a rebalance a partition's records pass only from the offset it was
sought to; records fetched from elsewhere before (faust hands them over first) are dropped."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from monitor.faust.starts import GATE_WAIT_S, Key, StartGate


def ev(partition: int, offset: int, topic: str = "tel") -> Any:
    return SimpleNamespace(message=SimpleNamespace(topic=topic, partition=partition, offset=offset))


def offsets(events: list[Any]) -> list[tuple[int, int]]:
    return [(e.message.partition, e.message.offset) for e in events]


def test_records_before_the_start_record_are_dropped_then_everything_passes() -> None:
    gate = StartGate()
    gate.expect({("tel", 0): 100, ("tel", 1): 0})
    stale = [ev(0, 5000), ev(0, 5001), ev(1, 0), ev(1, 1)]  # p0 fetched from the log end
    assert offsets(asyncio.run(gate.admit(stale))) == [(1, 0), (1, 1)]
    assert offsets(asyncio.run(gate.admit([ev(0, 100), ev(0, 101), ev(0, 5000)]))) == [
        (0, 100), (0, 101), (0, 5000)
    ]  # fmt: skip
    gate.expect({})  # no seek could be made: nothing gated
    assert offsets(asyncio.run(gate.admit([ev(0, 7)]))) == [(0, 7)]


def test_a_start_offset_holding_no_record_is_sought_again_and_let_through_after_a_while() -> None:
    now = [0.0]
    sought: list[tuple[Key, int]] = []

    async def reseek(key: Key, offset: int) -> None:
        sought.append((key, offset))

    gate = StartGate(reseek=reseek, clock=lambda: now[0])
    gate.expect({("tel", 0): 100})  # 100: a transaction marker, the next record is 101
    assert asyncio.run(gate.admit([ev(0, 101)])) == []
    now[0] = GATE_WAIT_S - 1
    assert asyncio.run(gate.admit([ev(0, 102)])) == [] and sought == []
    now[0] = GATE_WAIT_S + 1
    assert asyncio.run(gate.admit([ev(0, 103)])) == []
    assert sought == [(("tel", 0), 100)]  # read again from the start ...
    assert offsets(asyncio.run(gate.admit([ev(0, 101), ev(0, 102)]))) == [(0, 101), (0, 102)]
