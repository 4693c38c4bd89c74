"""The state table's restore keeps, per rollout, the entry furthest on: a worker that lost
its partitions without knowing it (paused past its session timeout) writes its last
checkpoint after its successor's, and that late, older entry must not set the rollout back."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import faust

from monitor.faust.state import STATE_VERSION, Saved, StateTable, decode_saved, encode_saved


def entry(next_record: int, state: bytes) -> bytes:
    return encode_saved(Saved(STATE_VERSION, next_record, {0: next_record * 10}, state))


def record(key: bytes, value: bytes | None, offset: int) -> Any:
    """A changelog event as faust's recovery hands it to the table."""
    message = SimpleNamespace(key=key, value=value, partition=0, offset=offset)
    return SimpleNamespace(key=key, value=value, message=message)


def table() -> StateTable:
    app = faust.App("rollguard-state-test", store="memory://")
    return StateTable(app, name="state", default=None, key_type=bytes, value_type=bytes)


def test_an_older_entry_written_late_does_not_set_a_rollout_back() -> None:
    t = table()
    # successor at 120 and 150, then the paused worker's late entry at 100, in one batch
    t.apply_changelog_batch(
        [record(b"r1", entry(120, b"s120"), 0), record(b"r1", entry(150, b"s150"), 1),
         record(b"r1", entry(100, b"s100"), 2), record(b"r2", entry(7, b"r2"), 3)]
    )  # fmt: skip
    assert decode_saved(t.data[b"r1"]).state == b"s150"
    assert decode_saved(t.data[b"r2"]).next == 7
    # ... and across batches (a standby reading the changelog as it grows)
    t.apply_changelog_batch([record(b"r1", entry(140, b"s140"), 4)])
    assert decode_saved(t.data[b"r1"]).state == b"s150"
    t.apply_changelog_batch([record(b"r1", entry(150, b"again"), 5)])  # same place: the later
    assert decode_saved(t.data[b"r1"]).state == b"again"
    t.apply_changelog_batch([record(b"r1", entry(151, b"s151"), 6)])
    assert decode_saved(t.data[b"r1"]).state == b"s151"


def test_entries_it_cannot_read_are_restored_as_they_are_for_the_loader_to_judge() -> None:
    t = table()
    t.apply_changelog_batch([record(b"r1", entry(50, b"s50"), 0), record(b"r1", b"junk", 1)])
    assert t.data[b"r1"] == b"junk"  # the loader starts it afresh, loudly
    t.apply_changelog_batch([record(b"r1", entry(10, b"s10"), 2)])
    assert decode_saved(t.data[b"r1"]).state == b"s10"
