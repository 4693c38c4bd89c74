"""One partition's round of taken envelopes, and what follows from it.

:class:`Applied` gathers the fresh events of a round for one ``core.process`` call; the
functions here send what a round did not apply (gaps, dead letters, rollouts over the limit)
and say what happens once a decision is acked. Shared by the native processor
(:mod:`monitor.worker.processor`) and the faust adapter (:mod:`monitor.faust.apply`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter

from monitor.edge.clients import Record, Sender
from monitor.worker.metrics import WorkerMetrics
from monitor.worker.publisher import Publisher
from monitor.worker.silence import SilenceWatch
from monitor.worker.take import Taken
from topics.codec import encode_batch
from topics.commands import Command
from topics.deadletters import DeadLetter, encode_dead_letter
from topics.events import VARIANTS, Event, Silence

log = logging.getLogger(__name__)

_VARIANT = attrgetter("variant")
_KEY = attrgetter("rollout_id", "variant")
_TS = attrgetter("ts")


def rollout_limit_letter(
    events: list[Event], refused: int, max_rollouts: int, topic: str, partition: int, offset: int
) -> DeadLetter:
    """The dead letter of events of ``refused`` new rollouts a worker holding its maximum
    of rollouts does not apply (one batch message that can be sent again)."""
    return DeadLetter(
        reason="rollout_limit",
        message=f"{len(events)} events of {refused} new rollouts not applied: "
        f"this worker already tracks {max_rollouts} rollouts (--max-rollouts)",
        original=encode_batch(events),
        topic=topic,
        partition=partition,
        offset=offset,
    )


async def send_set_aside(
    taken: Taken,
    record: Record,
    publisher: Publisher[Sender],
    metrics: WorkerMetrics,
    dlq_topic: str,
) -> None:
    """What :func:`~monitor.worker.take.take_all` did not apply from one record: a gap is
    logged and counted, dead letters go to ``dlq_topic`` keyed by rollout."""
    if taken.gap:
        metrics.gaps.inc()
        log.warning(
            "envelope of %r at %s:%d set aside: an earlier one is missing (the ingest sends "
            "both again)",
            taken.rid,
            record.topic,
            record.offset,
        )
    for dead in taken.dead:
        metrics.dlq.labels(dead.reason).inc()
        await publisher.send(dlq_topic, encode_dead_letter(dead), taken.rid.encode())


def decision_acked(
    command: Command,
    kts: int,
    metrics: WorkerMetrics,
    on_published: Callable[[Command], None] | None,
) -> Callable[[], None]:
    """What happens once the broker acked a decision: counted, handed to ``on_published``,
    its latency from the newest source message (``kts``, ms) observed."""

    def acked() -> None:
        metrics.record_decision(command)
        if on_published is not None:
            on_published(command)
        if kts:
            metrics.decision_latency.observe(max(0.0, time.time() - kts / 1000))

    return acked


@dataclass(slots=True)
class Applied:
    """One partition's events of a round, for one ``core.process`` call, and what the worker
    keeps of them. Per-event work here is C-level (map, Counter): it runs for every event."""

    events: list[Event] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    """The ``by_rollout`` records they came from (dead-lettered if the core fails)."""
    kinds: Counter[type] = field(default_factory=Counter)
    rollouts: set[str] = field(default_factory=set)
    newest: dict[tuple[str, str], float] = field(default_factory=dict)
    kts: int = 0

    def note(
        self, metrics: WorkerMetrics, silence: SilenceWatch, arrived: float, read_at: float
    ) -> None:
        """Once the core applied them: the events counted by kind, and each variant's
        newest event time told to the silence watch (``arrived``: monotonic clock;
        ``read_at``: reading time, see :class:`SilenceWatch`)."""
        for kind, count in self.kinds.items():
            metrics.events.labels(kind.__name__.lower()).inc(count)
        for (rollout_id, variant), ts in self.newest.items():
            silence.seen(rollout_id, variant, ts, arrived, read_at)

    def add(self, taken: Taken) -> None:
        events = taken.events
        kinds = Counter(map(type, events))
        self.kinds.update(kinds)
        self.events += events
        self.kts = max(self.kts, taken.kts)
        self.rollouts.add(taken.rid)
        self.newest.update(newest_ts(events, taken.rid, Silence in kinds))


def newest_ts(
    events: list[Event], rollout: str | None = None, silences: bool = True
) -> dict[tuple[str, str], float]:
    """(rollout, variant) -> ``ts`` of its last event, Silence events aside (``rollout``:
    all are of that rollout; ``silences``: there may be Silence events among them).

    >>> from topics.events import Metric
    >>> m = [Metric(v=1, rollout_id=r, variant=v, ts=t, name="x", value=1.0)
    ...      for r, v, t in [("a", "canary", 1e9), ("a", "baseline", 2e9), ("a", "canary", 3e9)]]
    >>> newest_ts(m) == newest_ts(m, "a", False) == {("a", "canary"): 3e9, ("a", "baseline"): 2e9}
    True
    >>> newest_ts([*m, Metric(v=1, rollout_id="b", variant="canary", ts=4e9, name="x", value=1.0)])[
    ...     ("b", "canary")]
    4000000000.0
    """
    if silences:
        events = [event for event in events if type(event) is not Silence]
    if rollout is None:
        return dict(zip(map(_KEY, events), map(_TS, events), strict=True))
    backwards = list(map(_VARIANT, events))
    backwards.reverse()
    return {(rollout, v): events[-1 - backwards.index(v)].ts for v in VARIANTS if v in backwards}
