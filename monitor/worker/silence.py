"""Silence detection: the only place the wall clock feeds a decision.

The processor tells the watch, per envelope, which variants of which rollouts reported and
their newest event time. A variant silent for ``after_s`` wall seconds is due once (until it
reports again). The processor writes the resulting :class:`~topics.events.Silence` event to
``by_rollout`` like any other event, so the core sees it in log order and a restore or a
replay re-applies it at the same place: the wall-clock judgement is made once, at the edge,
and recorded; it is never made again on replay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from topics.events import MAX_TS, SCHEMA_VERSION, Silence


class _Seen(NamedTuple):
    wall: float
    event_ts: float
    flagged: bool


@dataclass
class SilenceWatch:
    after_s: float
    _seen: dict[tuple[str, str], _Seen] = field(default_factory=dict)

    def seen(self, rollout_id: str, variant: str, event_ts: float, wall: float) -> None:
        self._seen[(rollout_id, variant)] = _Seen(wall, event_ts, False)

    def forget(self, rollout_id: str) -> None:
        for key in [k for k in self._seen if k[0] == rollout_id]:
            del self._seen[key]

    def due(self, wall: float) -> list[Silence]:
        """Silence events for variants quiet for ``after_s`` and not flagged yet.

        The event's ``ts`` is the variant's last event time plus the silent wall time, so it
        sits on the rollout's own event-time axis.

        >>> w = SilenceWatch(after_s=30)
        >>> w.seen("r1", "canary", 1.7e9, wall=100.0)
        >>> w.due(120.0)
        []
        >>> [(s.rollout_id, s.variant, s.silent_s) for s in w.due(131.0)]
        [('r1', 'canary', 31.0)]
        >>> w.due(200.0)  # flagged once per silence
        []
        """
        events: list[Silence] = []
        for key, seen in self._seen.items():
            silent = wall - seen.wall
            if seen.flagged or silent < self.after_s:
                continue
            self._seen[key] = seen._replace(flagged=True)
            rollout_id, variant = key
            events.append(
                Silence(
                    v=SCHEMA_VERSION,
                    rollout_id=rollout_id,
                    variant=variant,  # type: ignore[arg-type]  # only Variant values are stored
                    ts=min(seen.event_ts + silent, MAX_TS),
                    silent_s=round(silent, 3),
                    last_event_ts=seen.event_ts,
                )
            )
        return events
