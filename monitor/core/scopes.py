"""A scope: one variant over one segment selection, with running window sums.

At each evaluated step the scope receives that step's merged bucket; each window (one per
distinct rule window length, in steps) adds it and subtracts the bucket leaving the window,
so a window value costs O(1) per step whatever its length. The scope also keeps what is not
windowed: totals since the stage began (sequential tests, stage sample counts), cumulative
P&L and its peak (drawdown) and the event time of the last data event (freshness).
"""

from __future__ import annotations

import math
from typing import Any

from monitor.core import buckets as bk
from monitor.core.buckets import Bucket


class Scope:
    """Running aggregates of one (variant, segment selection)."""

    __slots__ = (
        "history",
        "last_seen",
        "max_steps",
        "pnl_cum",
        "pnl_n",
        "pnl_peak",
        "stage_total",
        "windows",
    )

    def __init__(self, window_steps: list[int], last_seen: float | None) -> None:
        self.windows: dict[int, Bucket] = {w: Bucket() for w in sorted(set(window_steps))}
        self.max_steps = max(self.windows, default=1)
        self.history: dict[int, Bucket] = {}
        self.stage_total = Bucket()
        self.pnl_cum = 0
        self.pnl_peak = 0
        self.pnl_n = 0
        self.last_seen = last_seen

    def advance(self, step: int, merged: Bucket | None) -> None:
        """Move every window to end at ``step`` (steps arrive consecutively)."""
        if merged is not None:
            self.history[step] = merged
            self.stage_total.add(merged)
            pnl_n = merged.c[bk.PNL_N]
            if pnl_n:
                self.pnl_n += pnl_n
                self.pnl_cum += merged.c[bk.PNL]
                self.pnl_peak = max(self.pnl_peak, self.pnl_cum)
            if merged.max_ts > -math.inf and (
                self.last_seen is None or merged.max_ts > self.last_seen
            ):
                self.last_seen = merged.max_ts
        history = self.history
        for w, acc in self.windows.items():
            if merged is not None:
                acc.add(merged)
            old = history.get(step - w)
            if old is not None:
                acc.add(old, -1)
        history.pop(step - self.max_steps, None)

    def reset_stage(self) -> None:
        self.stage_total = Bucket()

    def examples(self, step: int, steps: int, limit: int = 5) -> list[str]:
        """Correlation ids of bad events in the last ``steps`` steps, newest first."""
        out: list[str] = []
        for s in range(step, step - min(steps, self.max_steps), -1):
            b = self.history.get(s)
            if b is not None:
                for ex in b.examples:
                    if ex not in out:
                        out.append(ex)
                        if len(out) >= limit:
                            return out
        return out

    def to_state(self) -> dict[str, Any]:
        return {
            "windows": [[w, acc.to_state()] for w, acc in self.windows.items()],
            "history": [[s, b.to_state()] for s, b in sorted(self.history.items())],
            "stage_total": self.stage_total.to_state(),
            "pnl": [self.pnl_cum, self.pnl_peak, self.pnl_n],
            "last_seen": self.last_seen,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Scope:
        windows = {int(w): Bucket.from_state(b) for w, b in state["windows"]}
        scope = cls(list(windows), state["last_seen"])
        scope.windows = windows
        # Buckets shared between scopes are copies after a restore: they are never mutated.
        scope.history = {int(s): Bucket.from_state(b) for s, b in state["history"]}
        scope.stage_total = Bucket.from_state(state["stage_total"])
        scope.pnl_cum, scope.pnl_peak, scope.pnl_n = (int(x) for x in state["pnl"])
        return scope
