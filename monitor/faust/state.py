"""Each rollout's state in a faust Table: what it holds, and knowing when it is durable.

One table entry per rollout (key: the rollout id's UTF-8 bytes), written at every checkpoint
in which the rollout changed. Its value holds, together, everything a new owner needs to go
on exactly where the last one left off:

- ``state``: ``core.export_state(rollout)``, packed as the native worker's checkpoints pack it
  (``monitor.worker.checkpoint.pack_state``), or None for a rollout the core holds nothing
  for (events before its plan is known);
- ``next``: the first record of the repartition topic not applied to that state (records of
  this rollout below it are skipped: faust may deliver them again after a crash, as its
  committed offset can trail the table);
- ``hwm``: per telemetry partition, the highest source position applied (events the ingest
  forwarded twice are skipped, as in the native processor);
- ``seen``: per variant, the event time of its last event (a new owner starts each variant's
  silence clock from it when it loads the rollout).

The table is written with ``use_partitioner=True``: its changelog partition is the one the
producer's partitioner picks for the key, which is the partition of the repartition topic the
rollout's records are keyed to (same key bytes, same partitioner, same partition count). So
faust's assignor, which gives partition ``q`` of co-partitioned topics to one worker, restores
a rollout's entry on the worker that receives its records.

faust sends a table's changelog records from a buffer and forgets their futures
(``Table.on_key_set`` discards what ``send_changelog`` returns). :class:`StateTable` keeps
them, so a checkpoint can wait until the broker has every entry before its input is acked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Final

import faust
import msgspec

STATE_VERSION: Final = 1


class Saved(msgspec.Struct, frozen=True, array_like=True):
    """One rollout's table entry (msgpack, positional: it is read back by rollguard only)."""

    v: int
    next: int
    hwm: dict[int, int]
    state: bytes | None = None
    seen: dict[str, float] = {}


_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder(Saved)


def encode_saved(saved: Saved) -> bytes:
    """
    >>> decode_saved(encode_saved(Saved(STATE_VERSION, 7, {0: 3}, b"z", {"canary": 1.7e9})))
    Saved(v=1, next=7, hwm={0: 3}, state=b'z', seen={'canary': 1700000000.0})
    """
    return _ENCODER.encode(saved)


def decode_saved(data: bytes) -> Saved:
    """Raises ValueError (msgspec's errors are ValueErrors) for anything else."""
    saved = _DECODER.decode(data)
    if saved.v != STATE_VERSION:
        raise ValueError(f"rollout state version {saved.v} not understood")
    return saved


def _next_of(raw: Any) -> int | None:
    """An entry's ``next`` (None: not an entry this version reads; its loader says why)."""
    try:
        return decode_saved(raw).next if isinstance(raw, bytes) else None
    except ValueError:
        return None


class StateTable(faust.Table[bytes, bytes]):
    """A faust Table whose changelog sends can be awaited (:meth:`written`)."""

    def __init__(self, *args: Any, declare_first: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sent: list[asyncio.Future[Any]] = []
        self._declare_first = declare_first

    async def on_start(self) -> None:
        """Create ``declare_first`` (the repartition topic) with the changelog, as the table
        starts. faust otherwise creates an internal topic just before the consumer
        subscribes (``TopicConductor._update_indices``), and a fresh topic the group leader's
        metadata does not show yet is left out of the assignment ("Ignoring missing
        topic"), for as long as no rebalance follows: seen here as an app that read
        telemetry and never applied any of it."""
        if self._declare_first is not None:
            await self._declare_first.maybe_declare()
        await super().on_start()

    def apply_changelog_batch(self, batch: Iterable[Any]) -> None:
        """Restore from the changelog (recovery, standbys), skipping an entry that stands
        behind the one held for its rollout (a smaller ``next``).

        A worker that lost its partitions without knowing it yet (paused past its session
        timeout, or starved of CPU) writes its last checkpoint after its successor's; the
        last record would set the rollout back, and the successor's commits already passed
        the records between, so they would never be applied again. An entry further on is
        always the one to keep: the core is deterministic, so every worker that applied
        the partition's records up to ``next`` holds the same state there."""
        held: dict[Any, int] = {}
        kept = []
        for event in batch:
            value = event.message.value
            if value is not None:
                at = _next_of(value)
                before = held.get(event.key)
                if before is None:
                    before = _next_of(self.data.get(event.key))
                if at is not None and before is not None and at < before:
                    continue
                if at is not None:
                    held[event.key] = at
            kept.append(event)
        super().apply_changelog_batch(kept)

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        """faust's own send (``Collection.send_changelog``), its future kept."""
        future = super().send_changelog(*args, **kwargs)
        self._sent.append(future)
        return future

    async def written(self) -> None:
        """Wait until the broker acked every changelog record sent so far; raises the
        first send error (the entries are not durable: the caller must not ack input)."""
        sent, self._sent = self._sent, []
        for future in sent:
            await future
