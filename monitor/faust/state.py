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
  forwarded twice are skipped, as in the native processor).

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


_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder(Saved)


def encode_saved(saved: Saved) -> bytes:
    """
    >>> decode_saved(encode_saved(Saved(STATE_VERSION, 7, {0: 3}, b"z")))
    Saved(v=1, next=7, hwm={0: 3}, state=b'z')
    """
    return _ENCODER.encode(saved)


def decode_saved(data: bytes) -> Saved:
    """Raises ValueError (msgspec's errors are ValueErrors) for anything else."""
    saved = _DECODER.decode(data)
    if saved.v != STATE_VERSION:
        raise ValueError(f"rollout state version {saved.v} not understood")
    return saved


class StateTable(faust.Table[bytes, bytes]):
    """A faust Table whose changelog sends can be awaited (:meth:`written`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sent: list[asyncio.Future[Any]] = []

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
