"""Silence detection: the only place the wall clock feeds a decision.

The processor tells the watch, per envelope, which variants of which rollouts reported, their
newest event time, and when they arrived. A variant is silent when no event of it arrived
over ``after_s`` seconds of input *proven complete*: the worker can show that every event
written to Kafka up to a moment has been applied (:mod:`monitor.worker.reading`). Time the
worker could not read does not count: an ingest that lags or has no owner stops the proof,
and time the broker did not answer is left out of the clock silences are measured in
(``reading_time``; producers cannot write meanwhile either). A monitor that hears nothing
because it is deaf must not report the canary silent (``docs/outages.md``).

Each silence is due once (until the variant reports again). The processor writes the
resulting :class:`~topics.events.Silence` event to ``by_rollout`` like any other event, so
the core sees it in log order and a restore or a replay re-applies it at the same place: the
wall-clock judgement is made once, at the edge, and recorded; it is never made again on
replay. Its event time is the variant's last event time plus the proven silent time, so it
never lies past events produced before the proof's moment: those were applied already.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from topics.events import MAX_TS, SCHEMA_VERSION, Silence


class _Seen(NamedTuple):
    arrived: float
    """Monotonic clock (for what the wall clock alone would call silent)."""
    read_at: float
    """Reading time (``ReadingWatch.reading_time``), what silences are measured in."""
    event_ts: float
    flagged: bool


@dataclass
class SilenceWatch:
    after_s: float
    held_back: int = 0
    """Variants quiet for ``after_s`` by the clock but not by the proof (last :meth:`due`)."""
    _seen: dict[tuple[str, str], _Seen] = field(default_factory=dict)

    def seen(
        self,
        rollout_id: str,
        variant: str,
        event_ts: float,
        arrived: float,
        read_at: float | None = None,
    ) -> None:
        """``read_at``: reading time at arrival (None: ``arrived``, no outage to leave out)."""
        at = arrived if read_at is None else read_at
        self._seen[(rollout_id, variant)] = _Seen(arrived, at, event_ts, False)

    def forget(self, rollout_id: str) -> None:
        for key in [k for k in self._seen if k[0] == rollout_id]:
            del self._seen[key]

    def due(self, proven: float | None, now: float) -> list[Silence]:
        """Silence events for variants with nothing in ``after_s`` of proven input and not
        flagged yet. ``proven``: the moment (in reading time) up to which every event
        written has been applied, None when that cannot be shown; ``now``: the monotonic
        clock's present, to count the silences held back.

        The event's ``ts`` is the variant's last event time plus the proven silent time, so
        it sits on the rollout's own event-time axis.

        >>> w = SilenceWatch(after_s=30)
        >>> w.seen("r1", "canary", 1.7e9, arrived=100.0)
        >>> w.due(proven=120.0, now=121.0)
        []
        >>> w.due(proven=None, now=190.0), w.held_back  # deaf: nothing raised, one held back
        ([], 1)
        >>> [(s.variant, s.silent_s, s.ts - 1.7e9) for s in w.due(proven=131.0, now=192.0)]
        [('canary', 31.0, 31.0)]
        >>> w.due(proven=200.0, now=201.0)  # flagged once per silence
        []
        """
        events: list[Silence] = []
        held = 0
        for key, seen in self._seen.items():
            if seen.flagged:
                continue
            silent = -1.0 if proven is None else proven - seen.read_at
            if silent < self.after_s:
                held += now - seen.arrived >= self.after_s
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
        self.held_back = held
        return events
