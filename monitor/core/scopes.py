"""A scope: one variant over one segment selection, with running window sums.

At each evaluated step the scope receives that step's merged bucket; each window (one per
distinct rule window length, in steps) adds it and subtracts the bucket leaving the window,
so a window value costs O(1) per step whatever its length. The scope also keeps what is not
windowed: totals since the stage began (sequential tests, stage sample counts), cumulative
P&L and its peak (drawdown) and the event time of the last data event (freshness).
"""

from __future__ import annotations

import math
from operator import sub as _sub
from typing import TypedDict

from monitor.core import buckets as bk
from monitor.core.buckets import Bucket, BucketState


class ScopeState(TypedDict):
    """A scope in a checkpoint."""

    parts: list[tuple[int, int]]
    full_stage_total: bool
    stage_events: int
    windows: list[tuple[int, BucketState]]
    history: list[tuple[int, BucketState]]
    stage_total: BucketState
    pnl: tuple[int, int, int]
    last_seen: float | None


class Scope:
    """Running aggregates of one (variant, segment selection)."""

    __slots__ = (
        "full_stage_total",
        "history",
        "last_seen",
        "max_steps",
        "merge_parts",
        "parts",
        "pnl_cum",
        "pnl_n",
        "pnl_peak",
        "slim_after",
        "stage_events",
        "stage_total",
        "windows",
    )

    def __init__(
        self, window_parts: dict[int, int], last_seen: float | None, full_stage_total: bool = False
    ) -> None:
        """``window_parts``: window length in steps -> what it carries (Bucket part flags)."""
        self.parts = dict(sorted(window_parts.items()))
        self.windows: dict[int, Bucket] = {w: Bucket() for w in self.parts}
        self._derive()
        self.history: dict[int, Bucket] = {}
        self.full_stage_total = full_stage_total
        self.stage_total = Bucket()  # since the stage began (sequential tests only)
        self.stage_events = 0
        self.pnl_cum = 0
        self.pnl_peak = 0
        self.pnl_n = 0
        self.last_seen = last_seen

    def _derive(self) -> None:
        self.max_steps = max(self.windows, default=0)
        # What merging leaf buckets into this scope must keep: what its windows read, plus
        # evidence examples; a scope without windows needs only counters (and max_ts).
        self.merge_parts = 0
        for p in self.parts.values():
            self.merge_parts |= p | bk.EXAMPLES
        # Past the longest window that reads more than counters, a history bucket is only
        # ever subtracted from counter-only windows: keep its counters, drop the rest (memory
        # and checkpoint size; evidence examples then come from that recent span).
        self.slim_after = max((w for w, p in self.parts.items() if p), default=60)

    def reconcile(self, window_parts: dict[int, int], step: int) -> None:
        """Add the windows (or parts) today's rules need that a checkpoint written under
        other rules lacks, rebuilt from the history it kept up to ``step``: a rule added
        between a checkpoint and its restore starts from what is known instead of failing.
        Each history bucket a rebuilt window adds is the one ``advance`` later subtracts."""
        wanted = {w: self.parts.get(w, 0) | p for w, p in window_parts.items()}
        changed = {w: p for w, p in wanted.items() if w not in self.windows or p != self.parts[w]}
        if not changed:
            return
        for w, p in changed.items():
            acc = Bucket()
            for s in range(step - w + 1, step + 1):
                b = self.history.get(s)
                if b is not None:
                    acc.add(b, 1, p)
            self.windows[w] = acc
        self.parts = dict(sorted({**self.parts, **changed}.items()))
        self._derive()

    def advance(self, step: int, merged: Bucket | None) -> None:
        """Move every window to end at ``step`` (steps arrive consecutively)."""
        if merged is not None:
            if self.max_steps:
                self.history[step] = merged
            self.stage_events += merged.c[bk.EVENTS]
            if self.full_stage_total:
                self.stage_total.add(merged, parts=0)
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
        if not history:
            return
        parts = self.parts
        for w, acc in self.windows.items():
            if merged is not None:
                acc.add(merged, 1, parts[w])
            old = history.get(step - w)
            if old is not None:
                acc.add(old, -1, parts[w])
        history.pop(step - self.max_steps, None)
        if self.slim_after < self.max_steps:
            old = history.get(step - self.slim_after)
            if old is not None and (old.hist or old.reasons or old.metrics or old.examples):
                slim = bk.Bucket()
                slim.c = old.c  # never mutated once in history: safe to share
                slim.max_ts = old.max_ts
                history[step - self.slim_after] = slim

    def reset_stage(self) -> None:
        self.stage_total = Bucket()
        self.stage_events = 0

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

    def to_state(self) -> ScopeState:
        return {
            "parts": list(self.parts.items()),
            "full_stage_total": self.full_stage_total,
            "stage_events": self.stage_events,
            "windows": [(w, acc.to_state()) for w, acc in self.windows.items()],
            "history": [(s, b.to_state()) for s, b in sorted(self.history.items())],
            "stage_total": self.stage_total.to_state(),
            "pnl": (self.pnl_cum, self.pnl_peak, self.pnl_n),
            "last_seen": self.last_seen,
        }

    @classmethod
    def from_state(cls, state: ScopeState) -> Scope:
        parts = {int(w): int(p) for w, p in state["parts"]}
        scope = cls(parts, state["last_seen"], bool(state["full_stage_total"]))
        scope.windows = {int(w): Bucket.from_state(b) for w, b in state["windows"]}
        scope.stage_events = int(state["stage_events"])
        # Buckets shared between scopes are copies after a restore: they are never mutated.
        scope.history = {int(s): Bucket.from_state(b) for s, b in state["history"]}
        scope.stage_total = Bucket.from_state(state["stage_total"])
        scope.pnl_cum, scope.pnl_peak, scope.pnl_n = (int(x) for x in state["pnl"])
        return scope


class Rest:
    """What ``against: rest`` compares a segment with: the variant's other segments over a
    window of ``steps`` (its total scope minus the segment's), with the recent steps'
    history, as a :class:`Scope` kept from step to step. Each step subtracts the window's
    counters once and reuses the differences of the recent steps it already holds: history
    buckets are never mutated once in history, and a reused difference is checked to come
    from the very same pair of them (a slimmed or restored bucket is a new object, so it is
    recomputed). The same counters as subtracting anew each step, at a sixth of the cost
    (``tests/unit/core/test_scopes.py``)."""

    __slots__ = ("_pairs", "scope", "steps")

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.scope = Scope({steps: 0}, None)
        self._pairs: dict[int, tuple[Bucket, Bucket | None]] = {}

    def update(self, total: Scope | None, segment: Scope, recent: range) -> Scope | None:
        """The rest as of now (None without the window on either side); only counters and
        the newest event time are kept (what the comparison reads)."""
        steps = self.steps
        if total is None or steps not in total.windows or steps not in segment.windows:
            return None
        rest = self.scope
        window, theirs = rest.windows[steps], total.windows[steps]
        window.c = list(map(_sub, theirs.c, segment.windows[steps].c))
        window.max_ts = theirs.max_ts
        held, pairs = rest.history, self._pairs
        rest.history, self._pairs = {}, {}
        for s in recent:
            b = total.history.get(s)
            if b is None:
                continue
            mine = segment.history.get(s)
            part = held.get(s)
            pair = pairs.get(s)
            if part is None or pair is None or pair[0] is not b or pair[1] is not mine:
                part = Bucket()
                part.c = list(b.c) if mine is None else list(map(_sub, b.c, mine.c))
                part.max_ts = b.max_ts
            rest.history[s] = part
            self._pairs[s] = (b, mine)
        return rest
