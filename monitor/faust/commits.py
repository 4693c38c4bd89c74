"""The adapter's own offset commits for its two topics (faust's acks are off for them).

faust commits what its streams acked, and it acks a message it skips at a rebalance (one of
an older consumer generation, or one met while flow control is off: ``Stream.__aiter__``),
input the adapter never forwarded or applied. So the adapter's topics are declared with
``acks=False`` (faust neither tracks, acks nor commits them) and the agents commit here once
the effects of a batch are durable (``docs/faust.md``).

A commit runs in faust's consumer thread, on its aiokafka consumer (the group member whose
generation the broker checks), for the partitions still assigned there. Failing is safe: a
later commit covers an earlier one, and what was not committed is read again by whoever
holds the partition next; so a commit the group refused (it rebalanced) or the broker did
not take is reported as False, never raised into the agent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError
from aiokafka.structs import OffsetAndMetadata

log = logging.getLogger(__name__)

Key = tuple[str, int]
"""(topic, partition)"""


def next_offsets(events: Sequence[Any]) -> dict[Key, int]:
    """(topic, partition) -> the offset after the last of ``events`` there.

    >>> from types import SimpleNamespace as E
    >>> next_offsets([E(message=E(topic="t", partition=0, offset=o)) for o in (4, 9, 7)])
    {('t', 0): 10}
    """
    offsets: dict[Key, int] = {}
    for event in events:
        m = event.message
        key = (m.topic, m.partition)
        offsets[key] = max(offsets.get(key, 0), m.offset + 1)
    return offsets


def committer(app: Any) -> Callable[[Sequence[Any]], Awaitable[bool]]:
    """``commit(events)`` for ``app``: True once the offsets after ``events`` are committed."""

    async def commit(events: Sequence[Any]) -> bool:
        offsets = next_offsets(events)
        if not offsets:
            return True
        thread = app.consumer._thread  # faust's aiokafka consumer thread (faust-streaming 0.x)
        return bool(await thread.call_thread(_commit_assigned, thread, offsets))

    return commit


async def _commit_assigned(thread: Any, offsets: Mapping[Key, int]) -> bool:
    """In faust's consumer thread: commit what is still assigned there."""
    consumer = thread._ensure_consumer()
    assigned = consumer.assignment()
    mine = {
        tp: OffsetAndMetadata(offset, "")
        for (topic, partition), offset in offsets.items()
        if (tp := TopicPartition(topic, partition)) in assigned
    }
    if not mine:
        return False
    try:
        await consumer.commit(mine)
    except (KafkaError, IllegalStateError) as exc:  # rebalanced, or the broker away
        log.warning("faust: offsets %s not committed (%r); read again if they move", mine, exc)
        return False
    return True
