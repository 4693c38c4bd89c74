"""Checkpoints of core state on the compacted ``state`` topic, one per ``by_rollout`` partition.

A checkpoint of partition ``q`` says: "after applying every event of ``by_rollout[q]`` below
``offset``, the rollouts of ``q`` were in exactly these states, and these source offsets were
the highest applied". It is written to partition ``q`` of the state topic as

- chunks ``ckpt:{q}:{prefix}:{i}`` holding :meth:`Checkpoint.encode` in slices under 1 MiB
  (each rollout's state compressed on its own, see :class:`Checkpoint`), then
- the marker ``ckpt:{q}`` naming the prefix, chunk count and digest,

and only after the marker is acked are the previous checkpoint's chunks tombstoned. The
prefix is unique per write (writer id + counter), so a crash mid-write or two writers for a
moment never mix chunks: a reader takes the newest marker whose chunks it has in full, and
with none falls back to "no checkpoint" (replay ``q`` from its beginning — slower, still exact).
Compaction keeps the newest marker and the live chunks.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
import orjson
from aiokafka import TopicPartition

from monitor.edge.clients import Producer, Reader

log = logging.getLogger(__name__)

CHUNK_BYTES: Final = 900_000
CHECKPOINT_VERSION: Final = 3
READABLE_VERSIONS: Final = (2, 3)
"""Version 3 added ``resume``; a version-2 checkpoint is one without it."""
MAGIC: Final = b"RGC2"
WRITE_TIMEOUT_S: Final = 15.0
READ_TIMEOUT_S: Final = 60.0


@dataclass
class Checkpoint:
    partition: int
    offset: int
    """Next ``by_rollout`` offset to apply."""
    hwm: dict[str, dict[int, int]]
    """rollout id -> {source partition: highest source position applied}"""
    states: dict[str, bytes]
    """rollout id -> zlib(orjson(core.export_state(rid))): packed once per change, so an
    unchanged rollout costs nothing at the next checkpoint (the product core's export is
    ~16 ms and ~100 KB of JSON per busy rollout)."""
    writer: str = ""
    written_at: float = 0.0
    resume: dict[str, int] = field(default_factory=dict)
    """rollout id -> first ``by_rollout`` offset whose events of it are applied after a
    restore, where that is past ``offset``: its state was packed later than the others'
    (:mod:`monitor.worker.partition`), so the events between are in it already. Its
    ``hwm`` marks are those of that moment too; this also covers the worker's own
    (silence) events, which marks do not."""

    def encode(self) -> bytes:
        """``RGC2`` | u32 header length | header JSON | per rollout: u16+id, u32+state."""
        header = orjson.dumps(
            {
                "v": CHECKPOINT_VERSION,
                "partition": self.partition,
                "offset": self.offset,
                "hwm": self.hwm,
                "writer": self.writer,
                "written_at": self.written_at,
                "rollouts": list(self.states),
                "resume": self.resume,
            },
            option=orjson.OPT_NON_STR_KEYS,
        )
        parts = [MAGIC, struct.pack(">I", len(header)), header]
        for rid, packed in self.states.items():
            key = rid.encode()
            parts += [struct.pack(">H", len(key)), key, struct.pack(">I", len(packed)), packed]
        return b"".join(parts)

    @classmethod
    def decode(cls, blob: bytes) -> Checkpoint:
        if blob[:4] != MAGIC:
            raise ValueError("not a rollguard checkpoint (bad magic)")
        (size,) = struct.unpack_from(">I", blob, 4)
        header = orjson.loads(blob[8 : 8 + size])
        if header.get("v") not in READABLE_VERSIONS:
            raise ValueError(f"checkpoint version {header.get('v')!r} not understood")
        pos = 8 + size
        states: dict[str, bytes] = {}
        for _ in header["rollouts"]:
            (n,) = struct.unpack_from(">H", blob, pos)
            rid = blob[pos + 2 : pos + 2 + n].decode()
            pos += 2 + n
            (n,) = struct.unpack_from(">I", blob, pos)
            states[rid] = blob[pos + 4 : pos + 4 + n]
            pos += 4 + n
        return cls(
            partition=int(header["partition"]),
            offset=int(header["offset"]),
            hwm={
                rid: {int(src): int(pos_) for src, pos_ in marks.items()}
                for rid, marks in header["hwm"].items()
            },
            states=states,
            writer=str(header.get("writer", "")),
            written_at=float(header.get("written_at", 0.0)),
            resume={str(rid): int(at) for rid, at in header.get("resume", {}).items()},
        )


def pack_state(state: dict[str, Any]) -> bytes:
    return zlib.compress(orjson.dumps(state, option=orjson.OPT_NON_STR_KEYS), 1)


def unpack_state(packed: bytes) -> dict[str, Any]:
    state: dict[str, Any] = orjson.loads(zlib.decompress(packed))
    return state


def marker_key(partition: int) -> bytes:
    return f"ckpt:{partition}".encode()


def chunk_key(partition: int, prefix: str, index: int) -> bytes:
    return f"ckpt:{partition}:{prefix}:{index}".encode()


class _Marker(msgspec.Struct):
    prefix: str
    chunks: int
    sha256: str


_MARKER: Final = msgspec.json.Decoder(_Marker)
UNUSABLE: Final = (ValueError, KeyError, TypeError, IndexError, struct.error, zlib.error)
"""What a malformed checkpoint record raises as it is read (orjson's and msgspec's decode
errors are ValueErrors): one record's fault, never a reason to stop restoring."""


@dataclass
class CheckpointStore:
    producer: Producer  # started, idempotent
    reader: Reader  # started, without a group, used with assign()
    topic: str
    writer_id: str
    on_unusable: Callable[[str], None] = field(default=lambda reason: None)
    """Told each time a record or a checkpoint of the state topic cannot be used (a bounded
    reason: ``record`` or ``checkpoint``)."""
    _counter: itertools.count[int] = field(default_factory=itertools.count)
    _live: dict[int, tuple[str, int]] = field(default_factory=dict)
    """partition -> (prefix, chunks) of the newest checkpoint we know is on the topic."""

    async def write(self, checkpoint: Checkpoint) -> bool:
        """Write and wait for the broker's ack; False (logged) when it could not."""
        q = checkpoint.partition
        checkpoint.writer = self.writer_id
        checkpoint.written_at = time.time()  # informational only, never used to decide
        blob = checkpoint.encode()
        prefix = f"{self.writer_id}-{time.time_ns()}-{next(self._counter)}"
        chunks = [blob[i : i + CHUNK_BYTES] for i in range(0, len(blob), CHUNK_BYTES)] or [b""]
        marker = orjson.dumps(
            {"prefix": prefix, "chunks": len(chunks), "sha256": hashlib.sha256(blob).hexdigest()}
        )
        try:
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                futures = [
                    await self.producer.send(
                        self.topic, value=chunk, key=chunk_key(q, prefix, i), partition=q
                    )
                    for i, chunk in enumerate(chunks)
                ]
                futures.append(
                    await self.producer.send(
                        self.topic, value=marker, key=marker_key(q), partition=q
                    )
                )
                await asyncio.gather(*futures)
        except Exception as exc:  # TimeoutError included: the next interval tries again
            log.warning("checkpoint of partition %d not written (%r)", q, exc)
            return False
        previous = self._live.get(q)
        self._live[q] = (prefix, len(chunks))
        if previous is not None:
            await self._tombstone(q, *previous)
        return True

    async def _tombstone(self, q: int, prefix: str, chunks: int) -> None:
        try:
            for i in range(chunks):
                await self.producer.send(
                    self.topic, value=None, key=chunk_key(q, prefix, i), partition=q
                )
        except Exception as exc:  # compaction-only hygiene: a stale chunk is harmless
            log.info("tombstones for checkpoint %s not sent (%r)", prefix, exc)

    async def read(self, partitions: list[int]) -> dict[int, Checkpoint | None]:
        """The newest complete checkpoint of each partition (None: start from offset 0).

        All partitions are read in one pass: assigning them together costs one metadata
        round trip instead of one per partition.
        """
        tps = {TopicPartition(self.topic, q): q for q in partitions}
        if not tps:
            return {}
        self.reader.assign(list(tps))
        await self.reader.seek_to_beginning(*tps)
        ends = await self.reader.end_offsets(list(tps))
        scans = {q: _Scan(q, self.on_unusable) for q in partitions}
        positions = dict.fromkeys(tps, 0)
        deadline = time.monotonic() + READ_TIMEOUT_S
        while any(positions[tp] < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading checkpoints of partitions {partitions} timed out")
            batches = await self.reader.getmany(timeout_ms=500, max_records=10_000)
            for tp, records in batches.items():
                for record in records:
                    scans[tps[tp]].add(record.key, record.value)
                if records:
                    positions[tp] = records[-1].offset + 1
            for tp in tps:  # compaction leaves offset gaps: trust the client's position
                if positions[tp] < ends[tp] and tp not in batches:
                    positions[tp] = max(positions[tp], await self.reader.position(tp))
        result: dict[int, Checkpoint | None] = {}
        for q, scan in scans.items():
            found = scan.result()
            if found is not None:
                self._live[q] = found[1]
            result[q] = found[0] if found is not None else None
        return result


@dataclass
class _Scan:
    """Folds one state partition's records into its newest complete checkpoint. A record
    it cannot read is skipped (counted): one bad record must not stop every restore."""

    partition: int
    on_unusable: Callable[[str], None] = field(default=lambda reason: None)
    marker: _Marker | None = None
    chunks: dict[str, dict[int, bytes]] = field(default_factory=dict)

    def add(self, key: bytes | None, value: bytes | None) -> None:
        try:
            self._add(key, value)
        except UNUSABLE as exc:
            log.warning("state partition %d: record %r skipped (%r)", self.partition, key, exc)
            self.on_unusable("record")

    def _add(self, key: bytes | None, value: bytes | None) -> None:
        text = (key or b"").decode(errors="replace")
        head = f"ckpt:{self.partition}"
        if text == head:
            if value is not None:
                self.marker = _MARKER.decode(value)
                keep = self.marker.prefix
                self.chunks = {keep: self.chunks.get(keep, {})}  # older prefixes are dead
        elif value is not None and text.startswith(head + ":"):
            prefix, _, index = text[len(head) + 1 :].rpartition(":")
            self.chunks.setdefault(prefix, {})[int(index)] = value

    def result(self) -> tuple[Checkpoint, tuple[str, int]] | None:
        if self.marker is None:
            return None
        prefix, count = self.marker.prefix, self.marker.chunks
        parts = self.chunks.get(prefix, {})
        if len(parts) != count or any(i not in parts for i in range(count)):
            log.warning("checkpoint %r of partition %d is incomplete", prefix, self.partition)
            return None
        blob = b"".join(parts[i] for i in range(count))
        if hashlib.sha256(blob).hexdigest() != self.marker.sha256:
            log.warning("checkpoint %r of partition %d fails its digest", prefix, self.partition)
            return None
        try:
            return Checkpoint.decode(blob), (prefix, count)
        except UNUSABLE as exc:  # complete and as written, yet not a checkpoint we can read
            log.warning(
                "checkpoint %r of partition %d unreadable (%r)", prefix, self.partition, exc
            )
            self.on_unusable("checkpoint")
            return None
