"""Is this worker reading? Proof that its input is complete, and the broker's reachability.

A wall-clock silence is only evidence when the worker could have heard the canary. An
empty ``getmany`` says nothing: aiokafka answers "no records" just the same while the broker
is gone. So the worker proves, about once a second, a moment up to which every event
produced has been applied by its processor:

1. at ``t`` (before asking) read the telemetry topic's end offsets ``E``;
2. read the ingest group's committed offsets ``C``: the ingest commits only after every
   envelope forwarded for them was acked on ``by_rollout``, so ``C >= E`` means every event
   produced before ``t`` sits in ``by_rollout``;
3. then read the end offsets ``B`` of the ``by_rollout`` partitions this worker owns (the
   acked envelopes lie below them);
4. once the processor's next offsets reach ``B``, everything produced before ``t`` has been
   applied: ``t`` is proven.

A broker outage, an ingest that lags, a telemetry partition no ingest owns, a processor still
replaying: each stops the proof where it is, and only proven time counts towards a silence
(:class:`~monitor.worker.silence.SilenceWatch`). The same probes tell whether the broker
answers at all: while it does not, the worker says so once in its log, in a metric, in
``/healthz``'s ``reading`` (not a failed check: a restart would not bring the broker back)
and in the verdict routes ("inconclusive: monitor cannot read"), and says once when it is
back (``docs/outages.md``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from aiokafka import TopicPartition
from prometheus_client import Counter, Gauge

from monitor.edge.clients import Admin, Fetcher
from monitor.worker.health import Check, CheckResult
from monitor.worker.metrics import WorkerMetrics

log = logging.getLogger("rollguard.worker")

PROBE_TIMEOUT_S: Final = 2.5
UNREACHABLE_AFTER_S: Final = 5.0
"""No probe answered for this long: the broker counts as unreachable."""
MAX_STEP_S: Final = 3.0
"""Reading time runs with the clock between answered probes, and by at most this much
across a longer gap: an outage adds (almost) nothing to a silence."""
MAX_SNAPSHOTS: Final = 600
"""Offsets snapshots kept while the proof waits (one a tick); older ones are dropped (a
newer snapshot proves a later moment anyway)."""


@dataclass
class InputProof:
    """The newest moment up to which every event produced has been applied (pure: the I/O
    loop feeds it; see the module's steps).

    >>> p = InputProof()
    >>> p.source_ends(10.0, {0: 5, 1: 0})       # step 1 at t=10
    >>> p.committed({0: 3})                     # the ingest is behind on partition 0
    >>> p.source_ends(11.0, {0: 7, 1: 0})
    >>> p.committed({0: 7})                     # ... caught up: t=11 forwarded
    >>> p.target_ends({4: 20})
    >>> p.applied({4: 19}), p.applied({4: 20})  # the processor reaches offset 20
    (None, 11.0)
    """

    proven: float | None = None
    forwarded: float | None = None
    _sources: deque[tuple[float, Mapping[int, int]]] = field(
        default_factory=lambda: deque(maxlen=MAX_SNAPSHOTS)
    )
    _targets: deque[tuple[float, Mapping[int, int]]] = field(
        default_factory=lambda: deque(maxlen=MAX_SNAPSHOTS)
    )

    def source_ends(self, at: float, ends: Mapping[int, int]) -> None:
        self._sources.append((at, ends))

    def committed(self, offsets: Mapping[int, int]) -> None:
        """The ingest group's commits (a partition absent: nothing committed)."""
        at = _newest(
            self._sources, lambda ends: all(offsets.get(p, 0) >= e for p, e in ends.items())
        )
        if at is not None:
            self.forwarded = at

    def target_ends(self, ends: Mapping[int, int]) -> None:
        """End offsets of the owned ``by_rollout`` partitions, read after :meth:`committed`."""
        if self.forwarded is not None and (
            not self._targets or self._targets[-1][0] < self.forwarded
        ):
            self._targets.append((self.forwarded, ends))

    def applied(self, positions: Mapping[int, int]) -> float | None:
        """``positions``: owned partition -> next offset the processor applies."""
        at = _newest(
            self._targets,
            lambda ends: all(q in ends and p >= ends[q] for q, p in positions.items()),
        )
        if at is not None:
            self.proven = at
        return self.proven


def _newest(
    snapshots: deque[tuple[float, Mapping[int, int]]], met: Callable[[Mapping[int, int]], bool]
) -> float | None:
    """The moment of the newest snapshot that ``met`` its condition, dropping it and every
    older one (a later moment proven proves the earlier ones); None if none did."""
    for index in range(len(snapshots) - 1, -1, -1):
        at, ends = snapshots[index]
        if met(ends):
            for _ in range(index + 1):
                snapshots.popleft()
            return at
    return None


class OutageMetrics:
    """The gauges an operator reads during an outage (in the worker's registry)."""

    def __init__(self, metrics: WorkerMetrics) -> None:
        r = metrics.registry
        self.unreachable = Gauge(
            "rollguard_broker_unreachable",
            "1 while this worker gets no answer from the Kafka broker: it cannot read",
            registry=r,
        )
        self.outages = Counter(
            "rollguard_broker_outages",
            f"Times this worker got no answer from the broker for {UNREACHABLE_AFTER_S:.0f} s",
            registry=r,
        )
        self.proof_lag = Gauge(
            "rollguard_input_proof_lag_seconds",
            "How far back the moment lies up to which every event produced is known applied "
            "here, in reading time (outages left out; silence counts only up to it; NaN "
            "before the first proof)",
            registry=r,
        )
        self.proof_lag.set(float("nan"))
        self.silences_held_back = Gauge(
            "rollguard_silences_held_back",
            "Variants quiet by the wall clock whose silence is held back: the worker cannot "
            "show that it read their input",
            registry=r,
        )


@dataclass
class ReadingWatch:
    """Probes the broker every ``every_s``: feeds :class:`InputProof`, tracks reachability,
    logs each outage once at its start and once at its end, exports :class:`OutageMetrics`."""

    probe: Fetcher  # a started consumer without a group (end offsets, metadata)
    admin: Admin  # started (the ingest group's commits)
    telemetry_topic: str
    by_rollout_topic: str
    ingest_group: str
    positions: Callable[[], dict[int, int]]
    """Owned ``by_rollout`` partition -> next offset the processor applies."""
    held_back: Callable[[], int]
    """Silences held back now (:attr:`SilenceWatch.held_back`)."""
    metrics: OutageMetrics
    suppressed: Callable[[], int] = lambda: 0
    """Log lines the volume limit dropped so far (:func:`monitor.edge.logs.dropped_log_lines`)."""
    clock: Callable[[], float] = time.monotonic
    max_step_s: float = MAX_STEP_S
    proof: InputProof = field(default_factory=InputProof)
    last_answer: float = -1.0
    """When the broker last answered a probe (-1: not yet; counts from the start)."""
    read_at_answer: float = 0.0
    """:meth:`reading_time` at ``last_answer``."""
    unreachable_since: float | None = None
    back_at: float | None = None
    """When the broker answered again after the last outage."""
    last_error: str = ""
    stopping: bool = False
    _coordinator: int | None = None
    _suppressed_before: int = 0

    def __post_init__(self) -> None:
        if self.last_answer < 0:
            self.last_answer = self.clock()
        self.read_at_answer = self.last_answer

    def reading_time(self) -> float:
        """The clock with the time the broker did not answer left out (beyond
        ``MAX_STEP_S``): what silences are measured in. Producers cannot write while the
        broker is away either, and deliver what they buffered when it is back: had the
        outage counted, the proof's first moment after it (before their backlog lands)
        would have made every variant look silent."""
        return self.read_at_answer + min(self.clock() - self.last_answer, self.max_step_s)

    def proven(self) -> float | None:
        return self.proof.proven

    def cannot_read(self) -> str | None:
        """Why the worker cannot read now (None: it can)."""
        if self.unreachable_since is None:
            return None
        return f"broker unreachable for {self.clock() - self.last_answer:.0f} s"

    async def run(self, every_s: float = 1.0) -> None:
        while not self.stopping:
            started = self.clock()
            await self.tick()
            await asyncio.sleep(max(0.0, every_s - (self.clock() - started)))

    async def tick(self) -> None:
        at = self.reading_time()
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                await self._probe(at)
        except Exception as exc:  # broker away (or a timeout): the proof waits
            text, name = str(exc) or repr(exc), type(exc).__name__
            self.last_error = (text if text.startswith(name) else f"{name}: {text}")[:200]
            self._coordinator = None
        else:
            self.read_at_answer = self.reading_time()
            self.last_answer = self.clock()
        self.proof.applied(self.positions())
        self._update(self.clock())

    async def _probe(self, at: float) -> None:
        sources = await self._partitions(self.telemetry_topic)
        ends = await self.probe.end_offsets(sources)
        if self._coordinator is None:
            self._coordinator = await self.admin.find_coordinator(self.ingest_group)
        commits = await self.admin.list_consumer_group_offsets(
            self.ingest_group, self._coordinator, sources
        )
        owned = [TopicPartition(self.by_rollout_topic, q) for q in sorted(self.positions())]
        targets = await self.probe.end_offsets(owned) if owned else {}
        self.proof.source_ends(at, {tp.partition: end for tp, end in ends.items()})
        self.proof.committed(
            {tp.partition: meta.offset for tp, meta in commits.items() if meta.offset >= 0}
        )
        self.proof.target_ends({tp.partition: end for tp, end in targets.items()})

    async def _partitions(self, topic: str) -> list[TopicPartition]:
        """The topic's partitions from the probe's metadata (refreshed by the client)."""
        partitions = self.probe.partitions_for_topic(topic)
        if not partitions:
            described = await self.admin.describe_topics([topic])
            partitions = {p["partition"] for d in described for p in d.get("partitions", ())}
        if not partitions:
            raise LookupError(f"the broker names no partitions of topic {topic!r}")
        return [TopicPartition(topic, p) for p in sorted(partitions)]

    def _update(self, now: float) -> None:
        silent_for = now - self.last_answer
        suppressed = self.suppressed()
        if self.unreachable_since is None and silent_for >= UNREACHABLE_AFTER_S:
            self.unreachable_since = self.last_answer
            self.metrics.outages.inc()
            self._suppressed_before = suppressed
            log.warning(
                "broker unreachable for %.0f s (%s): this worker cannot read; silences held "
                "back and verdicts inconclusive until it answers again",
                silent_for,
                self.last_error or "no answer",
            )
        elif self.unreachable_since is not None and silent_for < UNREACHABLE_AFTER_S:
            log.warning(
                "broker reachable again after %.1f s (%d repeated log lines suppressed meanwhile)",
                self.last_answer - self.unreachable_since,
                suppressed - self._suppressed_before,
            )
            self.unreachable_since = None
            self.back_at = now
        self.metrics.unreachable.set(0 if self.unreachable_since is None else 1)
        proven = self.proof.proven
        lag = float("nan") if proven is None else self.reading_time() - proven
        self.metrics.proof_lag.set(lag)
        self.metrics.silences_held_back.set(self.held_back())


def excusing_outages(check: Check, reading: ReadingWatch, stall_s: float) -> Check:
    """``check`` (a loop or progress check) that does not fail for a broker outage: nothing can be
    handled while the broker does not answer, nor is it expected within ``stall_s`` after it
    answers again, and a restart would not help (the restarted worker waits the same)."""

    def excused(now: float) -> CheckResult:
        why = reading.cannot_read()
        if why is not None:
            return CheckResult(True, f"waiting: {why}")
        result = check(now)
        back = reading.back_at
        if not result.ok and back is not None and now - back < stall_s:
            return CheckResult(
                True, f"catching up: the broker answers again since {now - back:.0f} s"
            )
        return result

    return excused


@dataclass
class AdminClient:
    """An ``AIOKafkaAdminClient`` with the ``start``/``stop`` of the other clients (closed
    only once started: a start that failed is simply tried again)."""

    client: Admin
    started: bool = False

    async def start(self) -> None:
        await self.client.start()
        self.started = True

    async def stop(self) -> None:
        if self.started:
            await self.client.close()
