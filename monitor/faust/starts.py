"""Where each partition's reading starts after a rebalance, and what faust hands over
from elsewhere.

On every assignment faust reads each partition again from its committed offset, but two
kinds of records reach the agents first (seen here, each losing events, ``docs/faust.md``):

- a ``noack_take`` batch filled before the rebalance (an older consumer generation):
  :func:`this_generation` drops them;
- records fetched before the partition was sought to its commit (faust resumes fetching
  before it seeks, and aiokafka seeks only to a committed offset above 0): a new owner then
  forwarded the newest records of a partition first and the ones from the commit on after
  them, whose events were dropped as already applied. :func:`seek_to_committed` puts every
  assigned partition at its commit (or the log start) before faust resumes it, and
  :class:`StartGate` lets a partition's records through only from the record at that offset.

Dropped records are not committed: they come again, in order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from aiokafka.errors import IllegalStateError, KafkaError
from faust.types import TP

from monitor.faust.commits import Key

log = logging.getLogger(__name__)

GATE_WAIT_S: Final = 10.0
"""A partition whose start record has not come for this long is sought to its start again
and let through from the first record at or after it: a start offset that holds no record
(a transaction marker) would otherwise hold the partition until the next rebalance."""


@dataclass
class StartGate:
    """Lets a partition's records through from its start offset on (per generation)."""

    reseek: Callable[[Key, int], Awaitable[None]] | None = None
    clock: Callable[[], float] = time.monotonic
    _starts: dict[Key, int] = field(default_factory=dict)
    _since: dict[Key, float] = field(default_factory=dict)
    _lenient: set[Key] = field(default_factory=set)

    def expect(self, starts: dict[Key, int]) -> None:
        """The offsets the assigned partitions were sought to (a new generation)."""
        self._starts, self._since, self._lenient = dict(starts), {}, set()

    async def admit(self, events: Sequence[Any]) -> list[Any]:
        """``events`` of partitions whose start record came (it included), in order.

        >>> import asyncio
        >>> from types import SimpleNamespace as E
        >>> g = StartGate()
        >>> g.expect({("t", 0): 5})
        >>> ev = lambda p, o: E(message=E(topic="t", partition=p, offset=o))
        >>> batch = [ev(0, 9), ev(1, 3), ev(0, 5), ev(0, 6)]  # 9: fetched before the seek
        >>> [(e.message.partition, e.message.offset) for e in asyncio.run(g.admit(batch))]
        [(1, 3), (0, 5), (0, 6)]
        """
        if not self._starts:
            return list(events)
        out, held = [], 0
        for event in events:
            m = event.message
            key = (m.topic, m.partition)
            start = self._starts.get(key)
            if start is not None:
                if m.offset != start and not (key in self._lenient and m.offset >= start):
                    held += 1
                    self._since.setdefault(key, self.clock())
                    continue
                del self._starts[key]
            out.append(event)
        if held:
            log.info("faust: %d records before their partition's start dropped", held)
            await self._overdue()
        return out

    async def _overdue(self) -> None:
        now = self.clock()
        for key, since in list(self._since.items()):
            if key in self._starts and key not in self._lenient and now - since >= GATE_WAIT_S:
                log.warning(
                    "faust: no record at offset %d of %s:%d for %.0f s; sought again",
                    self._starts[key], *key, now - since,
                )  # fmt: skip
                self._lenient.add(key)
                if self.reseek is not None:
                    await self.reseek(key, self._starts[key])


async def seek_to_committed(app: Any, topics: set[str]) -> dict[Key, int]:
    """Put each assigned partition of ``topics`` at its committed offset (the log start if
    none), before faust resumes fetching them (call it from the table's ``on_recover``);
    returns where each now starts, for :meth:`StartGate.expect` ({} when the broker did not
    answer: faust's own seek follows, ungated)."""
    thread = app.consumer._thread  # faust's aiokafka consumer thread (faust-streaming 0.x)
    try:
        starts: dict[Key, int] = await thread.call_thread(_seek_assigned, thread, topics)
    except (KafkaError, IllegalStateError) as exc:
        log.warning("faust: assigned partitions not sought to their commits (%r)", exc)
        return {}
    return starts


def seeker(app: Any) -> Callable[[Key, int], Awaitable[None]]:
    """``seek(key, offset)`` on faust's consumer (:attr:`StartGate.reseek`)."""

    async def seek(key: Key, offset: int) -> None:
        await app.consumer.seek(TP(*key), offset)

    return seek


async def _seek_assigned(thread: Any, topics: set[str]) -> dict[Key, int]:
    consumer = thread._ensure_consumer()
    tps = [tp for tp in consumer.assignment() if tp.topic in topics]
    if not tps:
        return {}
    beginnings = await consumer.beginning_offsets(tps)
    starts: dict[Key, int] = {}
    for tp in tps:
        committed = await consumer.committed(tp)
        start = starts[(tp.topic, tp.partition)] = max(committed or 0, beginnings[tp])
        consumer.seek(tp, start)
    return starts


def this_generation(app: Any, events: Sequence[Any], agent: str) -> list[Any]:
    """The events fetched since the last rebalance; older ones are dropped, uncommitted.

    faust skips a message of an older consumer generation as it enters a stream, but a
    ``noack_take`` buffer filled before a rebalance is still handed over after it, and every
    assigned partition is read again from its committed offset. Applied, such a batch puts
    later offsets before earlier ones: the apply agent then takes the re-read records for
    applied (its marks passed them) and loses them, and the ingest forwards envelopes out of
    order. Dropped, they come again in order from the committed offset."""
    generation = app.consumer_generation_id
    fresh = [event for event in events if event.message.generation_id == generation]
    if len(fresh) < len(events):
        log.info(
            "faust %s: %d events fetched before the rebalance (generation %s) dropped; "
            "read again from the committed offsets",
            agent,
            len(events) - len(fresh),
            generation,
        )
    return fresh
