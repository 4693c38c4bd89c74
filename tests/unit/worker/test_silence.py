"""Silence means the canary is silent, not that the worker is deaf.

The worker's edge is played here second by second: producers write the stream to Kafka
(a stand-in broker at the clients' methods, ``tests/unit/worker/cluster.py``), the ingest and
the processor apply what was written (the product core, the example broker plan; the
:class:`SilenceWatch` hears of each variant as the processor tells it), and the real
:class:`ReadingWatch` probes once a second and proves how far the input is complete; then
the watch is asked what is due. While the broker is away the producers buffer, and they
deliver what they buffered once it is back. Event time runs with the wall clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

from monitor.core import Core, load_plans
from monitor.sim.synthetic import StreamSpec, generate
from monitor.worker.applied import newest_ts
from monitor.worker.metrics import WorkerMetrics
from monitor.worker.reading import MAX_STEP_S, InputProof, OutageMetrics, ReadingWatch
from monitor.worker.silence import SilenceWatch
from tests.unit.worker.cluster import Cluster
from topics.commands import Command
from topics.events import Event

ROOT = Path(__file__).resolve().parents[3]
PLANS = [
    str(ROOT / "examples/plans/broker-bridge.yaml"),
    str(ROOT / "examples/rules/broker-gates.yaml"),
]
START = 1_767_225_600.0  # the synthetic stream's first second
WALL0 = 10_000.0  # the worker's clock at START (any offset: only differences count)


class Edge:
    """Producers, broker, pipeline and silence watch, a wall-clock second at a time.

    ``judge``: ``"proof"`` (the worker's rule), ``"proof, outage counted"`` (the proof, but
    silence measured on the plain clock), or ``"wall clock"`` (silence from the clock
    alone, as before the proof)."""

    def __init__(self, judge: str = "proof") -> None:
        self.judge = judge
        self.core = Core(load_plans(PLANS))
        self.silence = SilenceWatch(after_s=30.0)
        self.cluster = Cluster(appended=0, forwarded=0, by_rollout=0)
        self.now = WALL0
        self.buffered: list[Event] = []  # written by producers, not yet applied
        self.reading = ReadingWatch(
            probe=self.cluster,
            admin=self.cluster,
            telemetry_topic="telemetry",
            by_rollout_topic="by_rollout",
            ingest_group="g.ingest",
            positions=lambda: {3: self.cluster.by_rollout},
            held_back=lambda: self.silence.held_back,
            metrics=OutageMetrics(WorkerMetrics("w1", "test")),
            clock=lambda: self.now,
            max_step_s=float("inf") if judge == "proof, outage counted" else MAX_STEP_S,
        )
        self.commands: list[Command] = []
        self.raised: list[Event] = []

    async def second(self, events: list[Event]) -> None:
        """One second: the watch probes and judges, then producers write this second's
        events (or buffer them while the broker is away) and the pipeline applies them."""
        self.now += 1.0
        await self.reading.tick()
        proven = self.now if self.judge == "wall clock" else self.reading.proven()
        due = self.silence.due(proven, self.now)
        self.raised += due
        self.commands += self.core.process(list(due))
        self.buffered += events
        if self.cluster.away:
            return
        written, self.buffered = self.buffered, []
        self.cluster.appended += len(written)  # the producers' writes land ...
        self.commands += self.core.process(written)  # ... and are forwarded and applied
        self.cluster.forwarded = self.cluster.by_rollout = self.cluster.appended
        read_at = self.reading.reading_time()
        for (rollout_id, variant), ts in newest_ts(written).items():
            self.silence.seen(rollout_id, variant, ts, self.now, read_at)

    def late(self) -> int:
        return sum(self.core.counters(rid).get("late", 0) for rid in ("ra", "rb"))

    def decisions(self) -> list[tuple[str, str, float]]:
        return [(c.rollout_id, c.action, c.issued_at - START) for c in self.commands]


def stream() -> list[Event]:
    a = generate(StreamSpec(rollout_id="ra", seconds=200, seed=1))
    b = generate(StreamSpec(rollout_id="rb", seconds=200, seed=2, regress_at=70.0))
    return sorted(a + b, key=lambda e: e.ts)


def seconds(events: list[Event], start: int, end: int) -> Iterator[list[Event]]:
    """Each second's events in [start, end) of the stream's time."""
    by_second: dict[int, list[Event]] = {}
    for event in events:
        by_second.setdefault(int(event.ts - START), []).append(event)
    for second in range(start, end):
        yield by_second.get(second, [])


def run_outage(judge: str) -> Edge:
    """60 s of stream read live, the broker away from 60 s to 125 s, the producers' buffer
    delivered once it is back, then the rest live until 200 s."""
    events, edge = stream(), Edge(judge)

    async def run() -> None:
        for second, batch in enumerate(seconds(events, 0, 200)):
            edge.cluster.away = 60 <= second < 125
            await edge.second(batch)

    asyncio.run(run())
    return edge


def offline() -> list[tuple[str, str, float]]:
    """The decisions of the stream replayed offline: (rollout, action, event time)."""
    commands = Core(load_plans(PLANS)).process(stream())
    return [(c.rollout_id, c.action, c.issued_at - START) for c in commands]


def test_silence_from_the_wall_clock_would_make_the_backlog_late() -> None:
    """The failure the proof prevents: judged by the wall clock alone, a 65 s outage
    raises silences that move both rollouts' clocks ~30 s past their last events, so the
    backlog's next 30 s are late: healthy ra is frozen, rb rolled back 21 s late."""
    edge = run_outage("wall clock")
    assert edge.raised, "the wall clock alone sees silence"
    assert edge.late() > 10_000
    assert offline() == [("rb", "rollback", 116.0)]
    assert edge.decisions() == [("ra", "freeze", 156.0), ("rb", "rollback", 137.0)]


def test_the_outage_must_not_count_towards_a_silence_either() -> None:
    """The proof alone is not enough: the first moment it proves after the outage comes
    before the producers' backlog lands, and over the plain clock every variant has been
    quiet since before the outage. Reading time leaves the outage out."""
    edge = run_outage("proof, outage counted")
    assert {(s.rollout_id, s.variant) for s in edge.raised} >= {("ra", "canary"), ("rb", "canary")}
    assert edge.late() > 10_000
    assert edge.decisions() == [
        ("ra", "freeze", 90.0),
        ("rb", "freeze", 90.0),
        ("rb", "rollback", 173.0),
    ]


def test_no_silence_while_deaf_and_no_event_late_after_the_outage() -> None:
    edge = run_outage("proof")
    assert edge.raised == []
    assert edge.silence.held_back == 0  # the backlog reported every variant again
    assert edge.late() == 0
    assert edge.decisions() == offline()


def test_a_real_silence_never_lies_past_events_produced_before_it() -> None:
    """Rollout ``ra`` goes quiet at 100 s (every variant) while the worker reads on: the
    silence is raised once 30 s of proven input passed, stamped no later than the proven
    moment, freezes ``ra``, and the events ``ra`` sends again at 150 s are all applied."""
    events, edge = stream(), Edge()
    quiet = [e for e in events if not (e.rollout_id == "ra" and 100 <= e.ts - START < 150)]
    proven_at_raise: list[float] = []

    async def run() -> None:
        for batch in seconds(quiet, 0, 200):
            before = len(edge.raised)
            await edge.second(batch)
            if len(edge.raised) > before:
                proven_at_raise.append(edge.reading.proven() or 0.0)

    asyncio.run(run())
    assert len(proven_at_raise) == 1
    silences = [s for s in edge.raised if s.rollout_id == "ra"]
    assert {s.variant for s in silences} == {"baseline", "canary", "shadow"}
    for silence in silences:  # on the event-time axis no later than the proof's moment
        assert silence.ts - START <= proven_at_raise[0] - WALL0
    assert [c.action for c in edge.commands if c.rule == "canary-feed-silent"] == ["freeze"]
    assert edge.late() == 0
    assert not [s for s in edge.raised if s.rollout_id == "rb"]  # rb kept reporting


def test_the_proof_follows_the_slowest_part_of_the_pipeline() -> None:
    proof = InputProof()
    proof.source_ends(1.0, {0: 10, 1: 4})
    proof.committed({0: 10})  # partition 1 has no commit yet: not forwarded
    proof.target_ends({3: 7})
    assert proof.applied({3: 100}) is None
    proof.source_ends(2.0, {0: 12, 1: 4})
    proof.committed({0: 12, 1: 4})  # both snapshots forwarded now: the newer one counts
    assert proof.forwarded == 2.0
    proof.target_ends({3: 9})
    assert proof.applied({3: 8}) is None  # the processor still replays
    assert proof.applied({3: 9, 5: 0}) is None  # a partition just assigned: no claim on it
    proof.source_ends(3.0, {0: 12, 1: 4})
    proof.committed({0: 12, 1: 4})
    proof.target_ends({3: 9, 5: 0})
    assert proof.applied({3: 9, 5: 0}) == 3.0
