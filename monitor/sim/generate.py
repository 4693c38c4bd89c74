"""The simulation loop: market, rollouts, event ordering, and offline silence events.

``Simulation(...).slices()`` yields the stream one time slice at a time, each slice's events
sorted by event time. Events that happen later than their slice (a fill 300 ms after a submit
at the slice's end, a back-office confirmation seconds later) are carried to the slice they
belong to, so the stream as a whole is in event-time order.

Silence: a live worker raises a :class:`~topics.events.Silence` event from the wall clock
when a variant has been quiet for ``silence_after_s``. Offline there is no wall clock, so the
simulator raises the same event from simulated time by the same rule: once per quiet spell,
at ``last_event_ts + silence_after_s`` (``silent_s = silence_after_s``).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from typing import Final

import numpy as np

from monitor.sim.columns import build_slice
from monitor.sim.flow import SPELL_VARIANTS, Chunk, RolloutFlow, RolloutSpec
from monitor.sim.market import Market
from monitor.sim.wire import RAW, VALIDATED
from topics.events import SCHEMA_VERSION, Event, Plan, Silence, Variant

DEFAULT_START_TS: Final = 1_767_618_000.0
"""2026-01-05 13:00:00 UTC, a Monday just before the New York open."""
DEFAULT_SILENCE_AFTER_S: Final = 30.0
"""The worker's default (``monitor.worker.settings``): offline silence follows the same rule."""


class Simulation:
    """A deterministic stream for one or many rollouts over one shared market.

    Parameters
    ----------
    rollouts
        The rollouts to simulate; each has its scenario (faults and ground truth).
    seed
        Everything random derives from it: same seed, same stream.
    start_ts
        Event time of the first slice (epoch seconds).
    duration_s
        Length of the stream; default the longest scenario.
    slice_s
        Generation granularity (vectorised per slice). Faults switch at slice boundaries.
    silence_after_s
        Raise one ``Silence`` event after a variant has been quiet this long (None: never).
        At least ``slice_s``.
    raw
        Build the unvalidated twins of :mod:`monitor.sim.wire` for orders, shadow decisions,
        payments and heartbeats: the same JSON, about twice as fast. For streams that are
        only written out (JSONL, Kafka); the core wants validated events (the default).

    Examples
    --------
    >>> from monitor.sim.scenarios import build_scenario
    >>> spec = RolloutSpec("r1", build_scenario("healthy"), plan="broker")
    >>> sim = Simulation([spec], seed=7, duration_s=5)
    >>> events = list(sim.events())
    >>> type(events[0]).__name__
    'Plan'
    >>> all(a.ts <= b.ts for a, b in zip(events, events[1:]))
    True
    """

    def __init__(
        self,
        rollouts: Sequence[RolloutSpec],
        *,
        seed: int = 0,
        start_ts: float = DEFAULT_START_TS,
        duration_s: float | None = None,
        slice_s: float = 1.0,
        silence_after_s: float | None = DEFAULT_SILENCE_AFTER_S,
        raw: bool = False,
    ) -> None:
        if not rollouts:
            raise ValueError("simulate at least one rollout")
        ids = [r.rollout_id for r in rollouts]
        if len(set(ids)) != len(ids):
            raise ValueError(f"rollout ids must be unique, got {ids}")
        if slice_s <= 0:
            raise ValueError("slice_s must be > 0")
        if silence_after_s is not None and silence_after_s < slice_s:
            raise ValueError("silence_after_s must be >= slice_s")
        self.start_ts = start_ts
        self.slice_s = slice_s
        self.duration_s = (
            duration_s if duration_s is not None else max(r.scenario.duration_s for r in rollouts)
        )
        self.silence_after_s = silence_after_s
        streams = np.random.SeedSequence(seed).spawn(1 + len(rollouts))
        market_faults = [f for r in rollouts for f in r.scenario.faults if f.target == "market"]
        types = RAW if raw else VALIDATED
        self._types = types
        self._market = Market(np.random.default_rng(streams[0]), market_faults, start_ts)
        self._flows = {
            r.rollout_id: RolloutFlow(r, np.random.default_rng(s), start_ts, types, index=i)
            for i, (r, s) in enumerate(zip(rollouts, streams[1:], strict=True))
        }
        # (rollout, variant) by spell code (see flow.Chunk)
        self._spells = [(rid, v) for rid in ids for v in SPELL_VARIANTS]
        self._carry: Chunk = (np.empty(0), np.empty(0, dtype=np.int64), [])
        self._pending_plan: list[tuple[float, int, Event]] = []
        self._last_seen: dict[tuple[str, str], float] = {}
        self._silenced: set[tuple[str, str]] = set()
        self._t = 0.0
        for r in rollouts:
            self._register(r)

    @property
    def now(self) -> float:
        """Event time up to which the stream has been produced."""
        return self.start_ts + self._t

    @property
    def rollout_ids(self) -> list[str]:
        return list(self._flows)

    def flow(self, rollout_id: str) -> RolloutFlow:
        return self._flows[rollout_id]

    def set_traffic(self, rollout_id: str, traffic_pct: float, *, announce: bool = True) -> None:
        """Move the canary's share from the next slice on, as an orchestrator would.

        With ``announce`` a ``Plan(action="traffic_share")`` event says so in the stream.
        """
        flow = self._flows[rollout_id]
        flow.share = traffic_pct / 100.0 if flow.spec.canary else 0.0
        if announce:
            ts = round(self.now, 6)
            variant: Variant = "canary" if flow.spec.canary else "shadow"
            event = Plan(
                v=SCHEMA_VERSION,
                rollout_id=rollout_id,
                variant=variant,
                ts=ts,
                action="traffic_share",
                traffic_pct=traffic_pct,
            )
            self._pending_plan.append((ts, flow.spell0 + SPELL_VARIANTS.index(variant), event))

    def _register(self, spec: RolloutSpec) -> None:
        variant: Variant = "canary" if spec.canary else "shadow"
        ts = self.start_ts
        spell = self._flows[spec.rollout_id].spell0 + SPELL_VARIANTS.index(variant)
        if spec.plan is not None:
            plan = Plan(
                v=SCHEMA_VERSION,
                rollout_id=spec.rollout_id,
                variant=variant,
                ts=ts,
                action="registered",
                plan=spec.plan,
            )
            self._pending_plan.append((ts, spell, plan))
        if spec.initial_stage is not None:
            stage = Plan(
                v=SCHEMA_VERSION,
                rollout_id=spec.rollout_id,
                variant=variant,
                ts=ts,
                action="stage_changed",
                stage=spec.initial_stage,
                traffic_pct=spec.traffic_pct,
            )
            self._pending_plan.append((ts, spell, stage))

    def slices(self) -> Iterator[list[Event]]:
        """The stream, one slice at a time, each in event-time order (the last flushes)."""
        while self._t < self.duration_s:
            yield self.step()
        if self._carry[2]:
            # already sorted; events past the end (late fills, confirmations) close the stream
            yield self._carry[2]
            self._carry = (np.empty(0), np.empty(0, dtype=np.int64), [])

    def events(self) -> Iterator[Event]:
        for batch in self.slices():
            yield from batch

    def step(self) -> list[Event]:
        """Produce the next slice ``[now, now + slice_s)``."""
        dt = min(self.slice_s, self.duration_s - self._t)
        market = self._market.step(self._t, dt)
        chunks: list[Chunk] = [self._carry, _chunk(self._pending_plan)]
        self._pending_plan = []
        draws = [flow.draw(market, dt) for flow in self._flows.values()]
        for flow_chunks in build_slice(draws, market, dt, self.start_ts, self._types):
            chunks += flow_chunks
        self._t += dt
        end = round(self.start_ts + self._t, 6)
        ts = np.concatenate([c[0] for c in chunks])
        events = [e for c in chunks for e in c[2]]
        order = np.argsort(ts, kind="stable")
        ts = ts[order]
        codes = np.concatenate([c[1] for c in chunks])[order]
        cut = int(np.searchsorted(ts, end, side="left"))
        ordered = [events[i] for i in order.tolist()]
        self._carry = (ts[cut:], codes[cut:], ordered[cut:])
        now_ts, now_events = ts[:cut], ordered[:cut]
        if self.silence_after_s is not None:
            return self._with_silences(now_ts, codes[:cut], now_events, end)
        return now_events

    def _with_silences(
        self, ts: np.ndarray, codes: np.ndarray, events: list[Event], end: float
    ) -> list[Event]:
        """Insert one Silence per quiet spell of ``silence_after_s`` (see module doc).

        Gaps inside one slice are shorter than ``slice_s <= silence_after_s``, so a spell can
        only end at a variant's first event of a slice or still be open at the slice's end.
        """
        after = self.silence_after_s
        assert after is not None
        # each spell's first and latest event time, spells in order of first appearance
        first: dict[tuple[str, str], float] = {}
        latest: dict[tuple[str, str], float] = {}
        if len(codes):
            small = codes.astype(np.int16) if len(self._spells) < 2**15 else codes
            by_spell = np.argsort(small, kind="stable")  # radix sort for int16
            grouped = small[by_spell]
            starts = np.flatnonzero(np.diff(grouped)) + 1
            first_at = by_spell[np.concatenate(([0], starts))]
            latest_at = by_spell[np.concatenate((starts, [len(codes)])) - 1]
            appear = np.argsort(first_at)
            for code, i, j in zip(
                codes[first_at[appear]].tolist(),
                first_at[appear].tolist(),
                latest_at[appear].tolist(),
                strict=True,
            ):
                spell = self._spells[code]
                first[spell] = float(ts[i])
                latest[spell] = float(ts[j])
        last = self._last_seen
        raised: list[tuple[float, Event]] = []
        for spell, t in first.items():
            prev = last.get(spell)
            if prev is not None and t - prev >= after and spell not in self._silenced:
                raised.append(_silence(spell, prev, after))
            self._silenced.discard(spell)
        last.update(latest)
        for quiet, prev in last.items():
            if end - prev >= after and quiet not in self._silenced:
                raised.append(_silence(quiet, prev, after))
                self._silenced.add(quiet)
        if not raised:
            return events
        out = list(events)
        keys = ts.tolist()
        for at_ts, silence in sorted(raised, key=_ts):
            at = bisect.bisect_right(keys, at_ts)
            keys.insert(at, at_ts)
            out.insert(at, silence)
        return out


def _silence(key: tuple[str, str], last_ts: float, after: float) -> tuple[float, Event]:
    ts = round(last_ts + after, 6)
    event = Silence(
        v=SCHEMA_VERSION,
        rollout_id=key[0],
        variant=key[1],  # type: ignore[arg-type]  # a variant name from the spec (str key)
        ts=ts,
        silent_s=after,
        last_event_ts=last_ts,
    )
    return ts, event


def _ts(item: tuple[float, Event]) -> float:
    return item[0]


def _chunk(rows: list[tuple[float, int, Event]]) -> Chunk:
    return (
        np.array([r[0] for r in rows], dtype=np.float64),
        np.array([r[1] for r in rows], dtype=np.int64),
        [r[2] for r in rows],
    )
