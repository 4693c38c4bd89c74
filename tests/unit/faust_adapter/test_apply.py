"""The faust adapter's ingest and apply work in memory (no faust worker, no broker): the
envelopes it forwards, the records it skips after a restart, what it dead-letters, and when
it acks. The test core names in every reason how many events its rollout had seen, so an
event applied twice or skipped shows as a different content under the same command id."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pytest

from monitor.faust.apply import Applier
from monitor.faust.ingest import Forwarder, ForwardError
from monitor.faust.state import decode_saved
from monitor.orchestrators import Accepted
from monitor.orchestrators.checks import verify_command
from monitor.status.publisher import StatusPublisher, rollout_view
from monitor.status.table import StatusTable
from monitor.worker.metrics import WorkerMetrics
from monitor.worker.publisher import Publisher
from monitor.worker.routing import Router
from monitor.worker.silence import SilenceWatch
from monitor.worker.take import take_all
from tests.integration.worker.support import content, scenario
from tests.integration.worker.threshold_core import ThresholdCore
from tests.keys import RING, WORKER
from tests.unit.worker.pipeline import AckingBroker
from topics.codec import Decoder, encode_event
from topics.commands import Command, decode_command
from topics.control_plane import ControlPlaneGate
from topics.deadletters import decode_dead_letter

REPARTITION = "app-rollguard-by-rollout"


class TP(NamedTuple):
    topic: str
    partition: int


@dataclass
class Message:
    """The fields of a faust ``Message`` the adapter reads."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: Any
    timestamp: float = 0.0

    @property
    def tp(self) -> TP:
        return TP(self.topic, self.partition)


class Event(NamedTuple):
    message: Message


class MemoryTable(dict[bytes, bytes]):
    """The state table's surface the applier uses; every write is durable at once."""

    async def written(self) -> None:
        return None


@dataclass
class Adapter:
    """One worker's ingest and apply over the same in-memory broker and table."""

    broker: AckingBroker
    table: MemoryTable
    core: ThresholdCore = field(default_factory=ThresholdCore)
    acked: list[Any] = field(default_factory=list)
    max_rollouts: int = 1000
    status: StatusPublisher | None = None

    def __post_init__(self) -> None:
        metrics = WorkerMetrics("w", "test")
        self.forwarder = Forwarder(
            router=Router(ControlPlaneGate(RING)),
            publisher=Publisher(self.broker, WORKER, "control", resend=False),
            metrics=metrics,
            topic=REPARTITION,
            dlq_topic="dlq",
        )
        self.applier = Applier(
            core=self.core,
            table=self.table,  # type: ignore[arg-type]  # a dict: no faust app needed here
            publisher=Publisher(self.broker, WORKER, "control"),
            metrics=metrics,
            silence=SilenceWatch(3600.0),
            partition_of=lambda rid: 0,
            topic=REPARTITION,
            dlq_topic="dlq",
            source_topic="tel",
            max_rollouts=self.max_rollouts,
            status=self.status,
        )

        async def commit(events: Sequence[Any]) -> None:
            self.acked.extend(events)

        self.applier.commit = commit

    async def start(self) -> None:
        await self.applier.on_assigned({0})


def telemetry(n: int = 600) -> list[Event]:
    events = scenario(rollouts=3, seconds=60, regressions={0: (10, 30), 2: (20, 45)})[:n]
    return [
        Event(Message("tel", 0, offset, e.rollout_id.encode(), encode_event(e)))
        for offset, e in enumerate(events)
    ]


def repartitioned(broker: AckingBroker, start: int = 0) -> list[Event]:
    """What the ingest forwarded, as the apply agent's events (offsets from ``start``)."""
    return [
        Event(Message(REPARTITION, 0, start + i, key, value))
        for i, (key, value) in enumerate(broker.take(REPARTITION))
    ]


def commands(broker: AckingBroker) -> list[Command]:
    return [decode_command(value) for _, value in broker.take("control")]


async def forward(adapter: Adapter, source: list[Event], chunk: int = 100) -> None:
    for start in range(0, len(source), chunk):
        await adapter.forwarder.forward(source[start : start + chunk])
    await adapter.forwarder.drain()


def test_forwarded_and_applied_it_decides_as_the_core_does_offline() -> None:
    async def run() -> None:
        broker, table = AckingBroker(), MemoryTable()
        adapter = Adapter(broker, table)
        await adapter.start()
        source = telemetry()
        await forward(adapter, source)
        records = repartitioned(broker)
        await adapter.applier.apply(records)
        assert await adapter.applier.checkpoint()
        sent = [value for _, value in broker.sent.get("control", [])]
        got = commands(broker)
        want = ThresholdCore().process(decoded(source))
        assert len(want) == 2 and [content(c) for c in got] == [content(c) for c in want]
        assert all(isinstance(verify_command(value, RING), Accepted) for value in sent)
        assert adapter.acked == records  # acked once durable, all of them
        last = {r.message.key: r.message.offset for r in records}
        assert {k: decode_saved(v).next for k, v in table.items()} == {
            key: offset + 1 for key, offset in last.items()
        }

    asyncio.run(run())


def test_the_status_topic_shows_each_held_rollouts_decisions_and_forgets_revoked_ones() -> None:
    """What the native processor publishes, the adapter publishes: signed views of the
    rollouts it holds, sent only once the commands before them are acked, and a heartbeat
    that stops naming rollouts this worker no longer holds."""

    async def run() -> None:
        broker, table = AckingBroker(), MemoryTable()
        adapter = Adapter(broker, table, status=StatusPublisher("status", "w-1", WORKER))
        await adapter.start()
        source = telemetry()
        await forward(adapter, source)
        await adapter.applier.apply(repartitioned(broker))
        await adapter.applier.publish_status()
        decided: dict[str, list[str]] = {}
        for command in commands(broker):  # acked on control before the status went out
            decided.setdefault(command.rollout_id, []).append(command.action)
        fleet = StatusTable(RING)
        for key, value in broker.take("status"):
            assert fleet.apply(key, value, 0.0) in ("rollout", "heartbeat"), fleet.rejected
        held = adapter.core.rollouts()
        assert sorted(fleet.rollouts) == held and len(held) == 3
        for rid in held:
            known = fleet.lookup(rid, 0.5)
            assert known is not None and not known.stale and known.owner == "w-1"
            assert known.view == rollout_view(adapter.core, rid)
            assert [d.action for d in known.view.last_decisions] == decided.get(rid, [])
        assert sum(map(len, decided.values())) == 2

        await adapter.applier.on_revoked()
        later = time.time() + 1.0  # the publisher stamps records with the wall clock
        adapter.status.collect(adapter.core, later, force=True)  # type: ignore[union-attr]
        for key, value in adapter.status.take():  # type: ignore[union-attr]
            fleet.apply(key, value, later)
        assert fleet.heartbeats["w-1"].rollouts == {}  # moved on: the next owner speaks

    asyncio.run(run())


def test_a_restarted_worker_skips_what_its_state_covers_and_decides_the_rest_alike() -> None:
    """A crash after a checkpoint: faust delivers the records since its last commit (here
    all of them) to a new worker, which loads the table first."""

    async def run() -> None:
        broker, table = AckingBroker(), MemoryTable()
        first = Adapter(broker, table)
        await first.start()
        await forward(first, telemetry())
        records = repartitioned(broker)
        half = len(records) // 2
        await first.applier.apply(records[:half])
        assert await first.applier.checkpoint()
        assert commands(broker)  # a decision before the checkpoint
        await first.applier.apply(records[half:])  # decided, never checkpointed: the crash
        after = commands(broker)
        assert after

        second = Adapter(broker, table)  # the same table: as faust restores it
        await second.start()
        assert second.applier.tracked_rollouts() == 3
        await second.applier.apply(records)  # everything since the last commit, again
        assert [content(c) for c in commands(broker)] == [content(c) for c in after]
        assert second.applier.applied == first.applier.applied - _events(records[:half])

    asyncio.run(run())


def test_envelopes_forwarded_twice_are_applied_once() -> None:
    async def run() -> None:
        broker = AckingBroker()
        adapter = Adapter(broker, MemoryTable())
        await adapter.start()
        source = telemetry(300)
        await forward(adapter, source)
        once = repartitioned(broker)
        adapter.forwarder.router.forget_positions()  # the ingest restarted from its commit
        await forward(adapter, source)
        twice = repartitioned(broker, start=len(once))
        await adapter.applier.apply(once + twice)
        assert adapter.applier.applied == len(source)
        want = ThresholdCore().process(decoded(source))
        assert want and [content(c) for c in commands(broker)] == [content(c) for c in want]

    asyncio.run(run())


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (None, b'{"src":0,"rid":"r0","offsets":[1],"events":[]}', "invalid"),
        (b"r0", b"not an envelope", "invalid"),
        (b"r0", b'{"src":0,"rid":"r1","offsets":[],"events":[]}', "invalid"),
        (b"r0", b"[" * 300 + b"]" * 300, "invalid"),
    ],
)
def test_a_record_no_rollguard_ingest_wrote_is_dead_lettered(
    key: bytes | None, value: bytes, reason: str
) -> None:
    async def run() -> None:
        broker = AckingBroker()
        adapter = Adapter(broker, MemoryTable())
        await adapter.start()
        await adapter.applier.apply([Event(Message(REPARTITION, 0, 7, key, value))])
        (letter,) = [decode_dead_letter(v) for _, v in broker.take("dlq")]
        assert (letter.reason, letter.original, letter.offset) == (reason, value, 7)
        assert adapter.applier.applied == 0

    asyncio.run(run())


def test_a_new_rollout_beyond_the_limit_is_dead_lettered_and_stays_unknown() -> None:
    async def run() -> None:
        broker = AckingBroker()
        adapter = Adapter(broker, MemoryTable(), max_rollouts=2)
        await adapter.start()
        await forward(adapter, telemetry(300))
        await adapter.applier.apply(repartitioned(broker))
        letters = [decode_dead_letter(v) for _, v in broker.take("dlq")]
        assert letters and {d.reason for d in letters} == {"rollout_limit"}
        assert adapter.applier.tracked_rollouts() == 2
        assert set(adapter.core.rollouts()) == {"r0", "r1"}

    asyncio.run(run())


def test_input_is_acked_only_by_a_checkpoint_and_records_of_other_partitions_not_at_all() -> None:
    async def run() -> None:
        broker = AckingBroker()
        adapter = Adapter(broker, MemoryTable())
        await adapter.start()
        await forward(adapter, telemetry(30))
        records = repartitioned(broker)
        stray = Event(Message(REPARTITION, 5, 0, b"r9", records[0].message.value))
        await adapter.applier.apply([*records, stray])
        assert adapter.acked == []
        assert await adapter.applier.checkpoint()
        assert adapter.acked == records  # the stray one is left for its owner

    asyncio.run(run())


def decoded(source: list[Event]) -> list[Any]:
    return [e for event in source for e in Decoder().decode(event.message.value).events]


def _events(records: list[Event]) -> int:
    """Events in ``records`` (read in order, as the apply agent reads them)."""
    hwm: dict[str, dict[int, int]] = {}
    return sum(
        len(taken.events)
        for record in records
        for taken in take_all(record.message.value, hwm, Decoder(), "tel")
    )


class FailingOnce(AckingBroker):
    """Acks every send, but the ``fail_at``-th send to the repartition topic fails."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.fail_at, self.count = fail_at, 0

    async def send(self, topic: str, value: Any = None, key: Any = None, partition: Any = None):
        future = await super().send(topic, value, key, partition)
        if topic == REPARTITION:
            self.count += 1
            if self.count == self.fail_at:
                failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                failed.set_exception(ConnectionError("leader not available"))
                return failed
        return future


def test_nothing_after_a_failed_forward_is_acked_and_the_app_is_stopped() -> None:
    async def run() -> None:
        broker = FailingOnce(fail_at=4)  # in the second batch (three rollouts a batch)
        adapter = Adapter(broker, MemoryTable())
        acked: list[Any] = []
        stopped: list[BaseException] = []

        async def commit(events: Sequence[Any]) -> None:
            acked.extend(events)

        adapter.forwarder.commit = commit
        adapter.forwarder.on_error = stopped.append
        source = telemetry(300)
        for start in range(0, 300, 100):
            await adapter.forwarder.forward(source[start : start + 100])
        with pytest.raises(ForwardError):
            await adapter.forwarder.drain()
        # at most the batch before the failed one (its flush may have covered the failed
        # send too): none of the failed batch nor after it, all read again after a restart
        assert acked in (source[:100], [])
        assert len(stopped) == 1
        with pytest.raises(ForwardError):
            await adapter.forwarder.forward(source[:1])

    asyncio.run(run())
