"""The stateful half: which commands were handled, how far each clock has got, and which
rollouts a human halted.

A small sqlite file (one per orchestrator instance) survives restarts:

* ``handled``: command ids delivered to the handler, kept until the command has expired
  (after that the expiry check rejects it anyway), so the table holds at most the
  commands of one ``max_lifetime_s`` window, and never more than ``max_entries`` rows;
* ``high_water``: per (rollout, role), the newest ``issued_at`` handled;
* ``operator_state``: per rollout (or ``*``), the newest operator HALT or RESUME handled.

Rules (``docs/signing.md``, "Replay rules"):

* ``duplicate``: a command id seen before (a worker re-publishing after a restart);
* ``replayed``: a validly signed command with a new id whose ``issued_at`` is older than the
  newest command handled for the same rollout from the same role (an old "promote" re-sent
  after a "halt", say). Per role, because workers stamp commands with event time and
  operators with their wall clock; the two clocks are not comparable, while operators'
  wall clocks are (NTP);
* ``halted``: a worker command for a rollout whose newest operator HALT/RESUME, for it or
  for ``*``, is a HALT. Only an operator RESUME reopens it, whatever a worker says.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final, Literal

from topics.commands import ALL_ROLLOUTS, Command
from topics.keys import Role

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
CREATE TABLE IF NOT EXISTS operator_state (
    rollout_id TEXT PRIMARY KEY,
    action TEXT NOT NULL,
    issued_at REAL NOT NULL
);
"""
StoreReason = Literal["duplicate", "replayed", "halted"]
STICKY: Final = frozenset({"halt", "resume"})
"""Operator actions that open or close a rollout for workers."""


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

    def high_water(self, rollout_id: str, role: Role) -> float | None:
        row = self._db.execute(
            "SELECT issued_at FROM high_water WHERE rollout_id = ? AND issuer = ?",
            (rollout_id, role),
        ).fetchone()
        return None if row is None else float(row[0])

    def is_replay(self, command: Command, role: Role) -> float | None:
        """The high-water mark ``command`` (signed by a ``role`` key) falls behind, or None."""
        mark = self.high_water(command.rollout_id, role)
        return mark if mark is not None and command.issued_at < mark else None

    def halted_by(self, rollout_id: str) -> tuple[str, float] | None:
        """(target, issued_at) of the operator HALT that holds ``rollout_id`` closed, or None:
        the newest operator HALT or RESUME for it or for ``*`` decides."""
        rows = self._db.execute(
            "SELECT rollout_id, action, issued_at FROM operator_state WHERE rollout_id IN (?, ?)",
            (rollout_id, ALL_ROLLOUTS),
        ).fetchall()
        if not rows:
            return None
        # the newest wins; at the same instant a RESUME of the rollout itself beats a HALT of *
        target, action, issued_at = max(rows, key=lambda r: (r[2], r[0] != ALL_ROLLOUTS))
        return (str(target), float(issued_at)) if action == "halt" else None

    def refusal(self, command: Command, role: Role) -> tuple[StoreReason, str] | None:
        """(reason, detail) when the verified ``command`` (signed by a ``role`` key) must not
        be delivered: ``duplicate``, ``replayed`` or ``halted``; None to deliver it."""
        if self.seen(command.command_id):
            return "duplicate", "already handled"
        mark = self.is_replay(command, role)
        if mark is not None:
            return "replayed", f"issued_at {command.issued_at} < {mark}"
        halt = self.halted_by(command.rollout_id) if role == "worker" else None
        if halt is not None:
            return (
                "halted",
                f"an operator halted {halt[0]!r} at {halt[1]:.3f}; only an operator resume "
                "reopens it",
            )
        return None

    def record(self, command: Command, now: float, role: Role) -> None:
        """Remember ``command`` (signed by a ``role`` key) as handled: one transaction,
        durable on return."""
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
                (command.rollout_id, role, command.issued_at),
            )
            if role == "operator" and command.action in STICKY:
                self._db.execute(
                    "INSERT INTO operator_state VALUES (?, ?, ?) ON CONFLICT (rollout_id) DO "
                    "UPDATE SET action = excluded.action, issued_at = excluded.issued_at "
                    "WHERE excluded.issued_at >= issued_at",
                    (command.rollout_id, command.action, command.issued_at),
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
