"""The stateful half: which commands were handled, and how far each issuer has got.

A small sqlite file (one per orchestrator instance) survives restarts:

* ``handled``: command ids delivered to the handler, kept until the command has expired
  (after that the expiry check rejects it anyway), so the table holds at most the
  commands of one ``max_lifetime_s`` window, and never more than ``max_entries`` rows;
* ``high_water``: per (rollout, issuer), the newest ``issued_at`` handled.

Replay rule: a validly signed command with a new id whose ``issued_at`` is older than the
newest command already handled for the same rollout from the same issuer is ``replayed``
(an old "promote" re-sent after a "halt", say). Per issuer, because workers stamp commands
with event time and operators with their wall clock; the two are not comparable.
A command id seen before is a ``duplicate`` (a worker re-publishing after a restart).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final

from topics.commands import Command

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS handled (
    command_id TEXT PRIMARY KEY,
    rollout_id TEXT NOT NULL,
    issuer TEXT NOT NULL,
    issued_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    handled_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS handled_by_expiry ON handled (expires_at);
CREATE TABLE IF NOT EXISTS high_water (
    rollout_id TEXT NOT NULL,
    issuer TEXT NOT NULL,
    issued_at REAL NOT NULL,
    PRIMARY KEY (rollout_id, issuer)
);
"""


class HandledStore:
    """Persisted dedupe set and per-issuer high-water marks (``":memory:"`` for tests)."""

    def __init__(
        self, path: str | Path, *, clock_skew_s: float = 30.0, max_entries: int = 100_000
    ) -> None:
        self.path = str(path)
        self.clock_skew_s = clock_skew_s
        self.max_entries = max_entries
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a handled id must survive a crash
        self._db.executescript(SCHEMA)

    def seen(self, command_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM handled WHERE command_id = ?", (command_id,))
        return row.fetchone() is not None

    def high_water(self, rollout_id: str, issuer: str) -> float | None:
        row = self._db.execute(
            "SELECT issued_at FROM high_water WHERE rollout_id = ? AND issuer = ?",
            (rollout_id, issuer),
        ).fetchone()
        return None if row is None else float(row[0])

    def is_replay(self, command: Command) -> float | None:
        """The high-water mark ``command`` falls behind, or None."""
        mark = self.high_water(command.rollout_id, command.issuer)
        return mark if mark is not None and command.issued_at < mark else None

    def record(self, command: Command, now: float) -> None:
        """Remember ``command`` as handled (one transaction, durable on return)."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR IGNORE INTO handled VALUES (?, ?, ?, ?, ?, ?)",
                (
                    command.command_id,
                    command.rollout_id,
                    command.issuer,
                    command.issued_at,
                    command.expires_at,
                    now,
                ),
            )
            self._db.execute(
                "INSERT INTO high_water VALUES (?, ?, ?) ON CONFLICT (rollout_id, issuer) "
                "DO UPDATE SET issued_at = max(issued_at, excluded.issued_at)",
                (command.rollout_id, command.issuer, command.issued_at),
            )

    def prune(self, now: float, max_lifetime_s: float) -> int:
        """Forget what the expiry checks already reject; keep at most ``max_entries``."""
        horizon = now - self.clock_skew_s
        with self._db:
            self._db.execute("BEGIN")
            gone = self._db.execute("DELETE FROM handled WHERE expires_at < ?", (horizon,))
            removed = gone.rowcount
            excess = self.count() - self.max_entries
            if excess > 0:  # keep the ids that stay valid longest
                self._db.execute(
                    "DELETE FROM handled WHERE command_id IN "
                    "(SELECT command_id FROM handled ORDER BY expires_at LIMIT ?)",
                    (excess,),
                )
                removed += excess
            self._db.execute(
                "DELETE FROM high_water WHERE issued_at < ?", (horizon - max_lifetime_s,)
            )
        return removed

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM handled").fetchone()[0])

    def close(self) -> None:
        self._db.close()
