"""Order-sensitive derivations, applied once per step in a canonical order.

* :class:`ShadowJoin` pairs production (``variant=baseline``) and shadow decisions by
  correlation id within a join window: a pair matches when route and outcome agree and the
  prices lie within a band; a side left alone past the window counts as unmatched.
* :class:`StatusTracker` follows one business object's state in several systems and counts
  objects whose states have disagreed for longer than a tolerance.

Both are fed the events of one step sorted by (ts, id), so arrival order within the
allowed lateness never changes a result.
"""

from __future__ import annotations

from typing import TypedDict

from topics.events import Shadow, Status

Waiting = tuple[str, int, str, str, float | None, str]
"""A decision waiting for its pair: side, step, route, outcome, price, segment key."""


class JoinState(TypedDict):
    pending: list[tuple[str, str, int, str, str, float | None, str]]
    expiry: list[tuple[int, list[str]]]


class TrackerState(TypedDict):
    states: list[tuple[str, list[tuple[str, str]]]]
    updated: list[tuple[str, float]]
    since: list[tuple[str, float]]


class JoinResult:
    """What one step's joins produced for one segment key of the shadow variant."""

    __slots__ = ("dev_bps", "examples", "matched", "pairs", "unmatched")

    def __init__(self) -> None:
        self.pairs = 0
        self.matched = 0
        self.unmatched = 0
        self.dev_bps: list[float] = []
        self.examples: list[str] = []


class ShadowJoin:
    """Join production and shadow decisions by correlation id."""

    def __init__(self, window_steps: int, price_band_bps: float) -> None:
        self.window_steps = window_steps
        self.price_band_bps = price_band_bps
        self.pending: dict[str, Waiting] = {}
        self.expiry: dict[int, list[str]] = {}

    def step(self, step: int, events: list[tuple[Shadow, str]]) -> dict[str, JoinResult]:
        """Join this step's shadow events, expire old ones; results by segment key."""
        out: dict[str, JoinResult] = {}
        for ev, segkey in sorted(events, key=lambda e: (e[0].ts, e[0].corr_id or "", e[0].variant)):
            corr = ev.corr_id or ""
            side = "shadow" if ev.variant == "shadow" else "production"
            other = self.pending.get(corr)
            if other is None:
                self.pending[corr] = (side, step, ev.route, ev.outcome, ev.price, segkey)
                self.expiry.setdefault(step + self.window_steps, []).append(corr)
                continue
            if other[0] == side:
                continue  # a second decision of the same side: keep the first
            del self.pending[corr]
            res = out.setdefault(segkey if side == "shadow" else other[5], JoinResult())
            res.pairs += 1
            price_a, price_b = ev.price, other[4]
            dev = None
            if price_a is not None and price_b is not None:
                prod = price_b if side == "shadow" else price_a
                dev = abs(price_a - price_b) / prod * 1e4
                res.dev_bps.append(dev)
            same = ev.route == other[2] and ev.outcome == other[3]
            if same and (dev is None or dev <= self.price_band_bps):
                res.matched += 1
            elif len(res.examples) < 3:
                res.examples.append(corr)
        for corr in self.expiry.pop(step, ()):
            entry = self.pending.get(corr)
            if entry is not None and entry[1] + self.window_steps <= step:
                del self.pending[corr]
                res = out.setdefault(entry[5], JoinResult())
                res.unmatched += 1
                if len(res.examples) < 3:
                    res.examples.append(corr)
        return out

    def to_state(self) -> JoinState:
        return {
            "pending": sorted((k, *v) for k, v in self.pending.items()),
            "expiry": sorted((s, c) for s, c in self.expiry.items()),
        }

    def load(self, state: JoinState) -> None:
        self.pending = {row[0]: row[1:] for row in state["pending"]}
        self.expiry = {s: list(c) for s, c in state["expiry"]}


class StatusTracker:
    """Objects whose states disagree across systems, and since when."""

    def __init__(self, tolerance_s: float) -> None:
        self.tolerance_s = tolerance_s
        self.states: dict[str, dict[str, str]] = {}
        self.updated: dict[str, float] = {}
        self.mismatch_since: dict[str, float] = {}

    def step(self, events: list[Status]) -> None:
        for ev in sorted(events, key=lambda e: (e.ts, e.object_id, e.system, e.state)):
            systems = self.states.setdefault(ev.object_id, {})
            systems[ev.system] = ev.state
            self.updated[ev.object_id] = ev.ts
            if len(set(systems.values())) > 1:
                self.mismatch_since.setdefault(ev.object_id, ev.ts)
            else:
                self.mismatch_since.pop(ev.object_id, None)

    def mismatched(self, now: float) -> list[str]:
        """Objects in disagreement for at least the tolerance at event time ``now``."""
        limit = now - self.tolerance_s
        return sorted(o for o, since in self.mismatch_since.items() if since <= limit)

    def prune(self, now: float, horizon_s: float = 3600.0) -> None:
        """Forget agreeing objects not updated within ``horizon_s`` (bounded memory)."""
        for obj, ts in list(self.updated.items()):
            if ts < now - horizon_s and obj not in self.mismatch_since:
                del self.updated[obj]
                del self.states[obj]

    def to_state(self) -> TrackerState:
        return {
            "states": sorted((o, sorted(s.items())) for o, s in self.states.items()),
            "updated": sorted(self.updated.items()),
            "since": sorted(self.mismatch_since.items()),
        }

    def load(self, state: TrackerState) -> None:
        self.states = {o: dict(s) for o, s in state["states"]}
        self.updated = dict(state["updated"])
        self.mismatch_since = dict(state["since"])
