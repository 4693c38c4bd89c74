"""A broker outage mid-stream, run and measured: the scenario behind ``test_outage.py`` and
``tests/bench/worker/outage.py``.

One broker of its own, 8 partitions, 5 rollouts of the example broker plan (three regress,
two stay healthy), two workers with the default 30 s silence threshold. The first part of the
stream is produced and decided; then a further 10 s of event time is produced and the broker
is stopped at once (SIGTERM or SIGKILL), so envelopes, commands and checkpoints are in flight
while every partition is leaderless. ``rb``'s latency rule is pending across the outage. The
broker stays down ``outage_s`` (longer than the silence threshold and than the clients'
``request_timeout_ms``), comes back on the same storage, and the rest of the stream follows,
as the producers' buffers would deliver it.

:func:`run_outage` returns what happened, as figures; the test asserts on them, the bench
prints them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from monitor import devbroker
from monitor.core import Core, load_plans
from tests.integration.worker.support import (
    PLANS,
    ControlLog,
    WorkerProcess,
    broker_scenario,
    content,
    metric,
    produce,
    read_control,
    start_worker,
)
from topics.admin import create_topics
from topics.commands import Command
from topics.config import TopicsConfig
from topics.events import Event

ROLLOUTS: dict[str, float | None] = {"ra": 20.0, "rb": 100.0, "rc": None, "rd": 230.0, "re": None}
SECONDS = 360
CUT_S = 120.0  # event time (s) at which the broker goes away
IN_FLIGHT_S = 10.0  # event time produced just before the stop
STACKS_AFTER_S = 60.0  # not recovered by then: the workers log their tasks' stacks
RECOVER_TIMEOUT_S = 180.0


@dataclass
class WorkerFigures:
    name: str
    log_bytes_outage: int = 0
    """Bytes the worker logged while the broker was down."""
    sequence_errors: int = 0
    """``OutOfOrderSequenceNumber`` mentions in its whole log."""
    cannot_read_after_s: float | None = None
    """Broker stop -> first ``/healthz`` saying ``reading: {ok: false}`` (None: never)."""
    red_after_s: float | None = None
    """Broker stop -> first ``/healthz`` answer other than 200 (None: never red)."""
    red_because: str = ""
    """The checks that failed then."""
    restarts: int = 0
    """Times it exited and the harness, as its supervisor, started it again."""
    healthy_at_end: bool = False
    outage_lines: list[str] = field(default_factory=list)
    """Its log lines from the outage (the first few, for a report)."""
    own_lines: list[str] = field(default_factory=list)
    """Its own (``rollguard.worker``) log lines from the outage, all of them."""


@dataclass
class OutageFigures:
    stop: str
    outage_s: float
    events: int
    expected: int
    """Decisions of the offline replay."""
    applied: dict[str, int] = field(default_factory=dict)
    """Events applied per rollout (live), next to ``want_applied`` (offline)."""
    want_applied: dict[str, int] = field(default_factory=dict)
    late: int = 0
    missing: list[str] = field(default_factory=list)
    """Decisions of the offline replay not on the control topic."""
    extra: list[str] = field(default_factory=list)
    """Binding decisions within the stream's event time that the replay does not have."""
    differing: list[str] = field(default_factory=list)
    """Command ids published with two contents, or with a content the replay does not have."""
    recovered_s: float | None = None
    """Broker back -> every decision of the replay on the control topic."""
    workers: list[WorkerFigures] = field(default_factory=list)
    verdict_before: str = ""
    """``/verdict/rc`` (a healthy rollout) just before the stop: outcome, and why not."""
    verdicts_during: list[str] = field(default_factory=list)
    """``/verdict/rc`` answers seen while the broker was down (outcome and ``monitor``,
    the time in it cut off)."""
    held_back: float = 0.0
    """Most silences held back at once (``rollguard_silences_held_back``) during it."""
    unreachable_seen: bool = False
    """``rollguard_broker_unreachable`` was 1 during it."""
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds spent in each phase of the run (where a test's time goes)."""

    @property
    def ok(self) -> bool:
        return (
            not self.missing
            and not self.extra
            and not self.differing
            and self.late == 0
            and self.applied == self.want_applied
            and all(w.healthy_at_end for w in self.workers)
        )

    def summary(self) -> str:
        lines = [
            f"stop={self.stop} outage={self.outage_s:.0f}s events={self.events} "
            f"decisions: want {self.expected}, missing {len(self.missing)}, "
            f"extra {len(self.extra)}, differing {len(self.differing)}; late {self.late}; "
            f"applied {sum(self.applied.values())}/{sum(self.want_applied.values())}; "
            f"recovered {_s(self.recovered_s)}; verdict of rc {self.verdict_before!r} before, "
            f"{self.verdicts_during} during it; silences held back {self.held_back:.0f}, "
            f"unreachable metric {'seen' if self.unreachable_seen else 'never 1'}",
        ]
        for w in self.workers:
            lines.append(
                f"  {w.name}: log during outage {w.log_bytes_outage:,} B, "
                f"sequence errors {w.sequence_errors}, cannot read after "
                f"{_s(w.cannot_read_after_s)}, 503 after {_s(w.red_after_s)} "
                f"({w.red_because or 'never'}), "
                f"restarts {w.restarts}, healthy at end {w.healthy_at_end}"
            )
        lines.append("  phases: " + ", ".join(f"{k} {v:.0f}s" for k, v in self.phases.items()))
        lines += [f"  missing {m}" for m in self.missing]
        lines += [f"  extra {m}" for m in self.extra]
        lines += [f"  differing {m}" for m in self.differing]
        return "\n".join(lines)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def _line(command: Command, t0: float) -> str:
    return f"{command.rollout_id} {command.action} {command.rule} at +{command.issued_at - t0:.1f}s"


class _Watch:
    """A thread beside the run: polls each worker's ``/healthz`` (and, while asked, the
    verdict of one rollout and the outage metrics), and restarts a worker that exited, as
    its supervisor would (``restart: unless-stopped``)."""

    def __init__(
        self, workers: list[WorkerProcess], restart: Callable[[int], WorkerProcess], rollout: str
    ) -> None:
        self.workers = workers
        self.restart = restart
        self.rollout = rollout
        self.restarts = [0] * len(workers)
        self.first_red: list[float | None] = [None] * len(workers)
        self.red_because = [""] * len(workers)
        self.first_cannot_read: list[float | None] = [None] * len(workers)
        self.since = time.monotonic()
        self.verdicts: list[str] = []
        self.watch_outage = False
        self.held_back = 0.0
        self.unreachable = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def verdict(self, worker: WorkerProcess) -> str | None:
        """Outcome and ``stale_reason`` of the rollout's verdict (any worker answers)."""
        with contextlib.suppress(OSError, ValueError):
            code, body = worker.get(f"/verdict/{self.rollout}", timeout=2.0)
            if code == 200:
                answer = orjson.loads(body)
                return f"{answer['outcome']} ({answer.get('stale_reason', '').split(' for ')[0]})"
        return None

    def _run(self) -> None:
        while not self._stop.is_set():
            for i in range(len(self.workers)):
                if self.workers[i].proc.poll() is not None:
                    self.workers[i] = self.restart(i)
                    self.restarts[i] += 1
                w = self.workers[i]
                status, reading, failing = 0, True, "no answer"
                with contextlib.suppress(OSError, ValueError):
                    status, body = w.get("/healthz", timeout=2.0)
                    report = orjson.loads(body)
                    reading = report.get("reading", {}).get("ok", True)
                    checks = report.get("checks", {}).items()
                    failing = ", ".join(f"{k}: {c['detail']}" for k, c in checks if not c["ok"])
                since = time.monotonic() - self.since
                if status != 200 and self.first_red[i] is None:
                    self.first_red[i], self.red_because[i] = since, failing
                if not reading and self.first_cannot_read[i] is None:
                    self.first_cannot_read[i] = since
                if self.watch_outage:
                    verdict = self.verdict(w)
                    if verdict is not None:
                        self.verdicts.append(verdict)
                    with contextlib.suppress(OSError, ValueError):
                        self.held_back = max(
                            self.held_back, metric(w, "rollguard_silences_held_back")
                        )
                        self.unreachable |= metric(w, "rollguard_broker_unreachable") == 1
            self._stop.wait(0.5)


def _views(workers: list[WorkerProcess], rollouts: list[str]) -> dict[str, dict[str, Any]]:
    views: dict[str, dict[str, Any]] = {}
    for rid in rollouts:
        for w in workers:
            with contextlib.suppress(OSError, ValueError):
                code, body = w.get(f"/rollouts/{rid}")
                if code == 200:
                    views[rid] = orjson.loads(body)
                    break
    return views


def _offline(events: list[Event]) -> tuple[list[Command], dict[str, int]]:
    core = Core(load_plans([str(p) for p in PLANS]))
    commands = core.process(events)
    return commands, {rid: core.counters(rid)["events"] for rid in ROLLOUTS}


def _compare(figures: OutageFigures, log: ControlLog, expected: list[Command], t0: float) -> None:
    want = {c.command_id: c for c in expected}
    for command_id, copies in log.by_id().items():
        contents = {content(c) for c in copies}
        wanted = want.get(command_id)
        if len(contents) > 1 or (wanted is not None and content(wanted) not in contents):
            figures.differing.append(_line(copies[0], t0))
    got = log.distinct()
    figures.missing = [_line(c, t0) for cid, c in want.items() if cid not in got]
    figures.extra = [
        _line(c, t0)
        for cid, c in got.items()
        # a silence raised after the stream really ended is the monitor doing its job
        if cid not in want and not c.advisory and c.issued_at <= t0 + SECONDS
    ]


def _control_end(bootstrap: str, topics: TopicsConfig) -> int:
    """Records on the control topic now (compacted after 7 days only: no offset gaps)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        parts = consumer.partitions_for_topic(topics.control) or set()
        ends = consumer.end_offsets([TopicPartition(topics.control, p) for p in parts])
        return sum(ends.values())
    finally:
        consumer.close()


class _Phases:
    """Wall seconds per phase of a run, into ``figures.phases``."""

    def __init__(self, figures: OutageFigures) -> None:
        self.figures = figures
        self.mark = time.monotonic()

    def done(self, name: str) -> None:
        now = time.monotonic()
        self.figures.phases[name] = now - self.mark
        self.mark = now


def run_outage(
    stop: str, tmp_path: Path, *, outage_s: float = 60.0, extra_args: tuple[str, ...] = ()
) -> OutageFigures:
    """Run the scenario with the broker stopped by ``stop`` ("term" or "kill")."""
    events = broker_scenario(ROLLOUTS, seconds=SECONDS)
    t0 = events[0].ts
    expected, want_applied = _offline(events)
    cut = next(i for i, e in enumerate(events) if e.ts >= t0 + CUT_S)
    flight = next(i for i, e in enumerate(events) if e.ts >= t0 + CUT_S + IN_FLIGHT_S)
    figures = OutageFigures(stop, outage_s, len(events), len(expected), want_applied=want_applied)
    phases = _Phases(figures)

    broker = devbroker.start(workdir=tmp_path / "kafka")
    topics = TopicsConfig(partitions=8).with_prefix("outage")
    workers: list[WorkerProcess] = []
    watch: _Watch | None = None

    def start(i: int) -> WorkerProcess:
        return start_worker(broker.bootstrap, topics, f"w{i}", tmp_path, extra_args=extra_args)

    try:
        create_topics(broker.bootstrap, topics)
        workers = [start(i) for i in range(2)]
        for w in workers:
            w.wait_healthy(120)
        watch = _Watch(workers, start, "rc")
        phases.done("start")
        produce(broker.bootstrap, topics.telemetry, events[:cut], batch_size=50)
        before = [c for c in expected if c.issued_at < t0 + CUT_S]
        read_control(broker.bootstrap, topics, lambda log: len(log.distinct()) >= len(before))
        # the status topic follows the control topic by one flush: ask until a worker knows it
        deadline = time.monotonic() + 15.0
        while not figures.verdict_before and time.monotonic() < deadline:
            figures.verdict_before = next(filter(None, map(watch.verdict, workers)), "")
            time.sleep(0.0 if figures.verdict_before else 0.2)
        phases.done("before")

        produce(broker.bootstrap, topics.telemetry, events[cut:flight], batch_size=50)
        sizes = [w.log_path.stat().st_size for w in workers]
        watch.since = stopped = time.monotonic()
        watch.first_red = [None] * len(workers)
        watch.first_cannot_read = [None] * len(workers)
        watch.watch_outage = True
        if stop == "kill":
            broker.kill()
        else:
            broker.stop(remove_data=False)
        time.sleep(max(0.0, outage_s - (time.monotonic() - stopped)))
        watch.watch_outage = False
        for w, size in zip(workers, sizes, strict=True):
            with w.log_path.open("rb") as f:
                f.seek(size)
                during = f.read()
            figures.workers.append(
                WorkerFigures(
                    w.log_path.stem,
                    log_bytes_outage=len(during),
                    outage_lines=during.decode(errors="replace").splitlines()[:40],
                    own_lines=[
                        line
                        for line in during.decode(errors="replace").splitlines()
                        if " rollguard.worker: " in line
                    ],
                )
            )
        phases.done("outage")
        broker = devbroker.restart(broker)
        back = time.monotonic()
        phases.done("broker restart")
        produce(broker.bootstrap, topics.telemetry, events[flight:], batch_size=50)

        def complete(log: ControlLog) -> bool:
            return all(c.command_id in log.by_id() for c in expected)

        log = read_control(broker.bootstrap, topics, complete, STACKS_AFTER_S)
        if not complete(log):  # where are they waiting? (monitor.worker.stacks)
            for w in workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(w.proc.pid, signal.SIGUSR1)
                    os.kill(w.proc.pid, signal.SIGUSR2)  # if its event loop is blocked
            log = read_control(broker.bootstrap, topics, complete, RECOVER_TIMEOUT_S)
        if complete(log):
            figures.recovered_s = time.monotonic() - back
        phases.done("after")
        # every event applied: wait (bounded) for the live counts to reach the replay's
        deadline = time.monotonic() + 60
        while True:
            views = _views(workers, list(ROLLOUTS))
            figures.applied = {rid: int(v["counts"]["events"]) for rid, v in views.items()}
            figures.late = sum(int(v["counts"]["late"]) for v in views.values())
            if figures.applied == want_applied or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        end = _control_end(broker.bootstrap, topics)
        log = read_control(broker.bootstrap, topics, lambda log: len(log.commands) >= end)
        _compare(figures, log, expected, t0)
        watch.stop()
        figures.verdicts_during = sorted(set(watch.verdicts))
        figures.held_back, figures.unreachable_seen = watch.held_back, watch.unreachable
        for i, (w, f) in enumerate(zip(workers, figures.workers, strict=True)):
            f.red_after_s, f.red_because = watch.first_red[i], watch.red_because[i]
            f.cannot_read_after_s = watch.first_cannot_read[i]
            f.restarts = watch.restarts[i]
            f.healthy_at_end = w.proc.poll() is None and w.get("/healthz")[0] == 200
            f.sequence_errors = w.log_path.read_bytes().count(b"OutOfOrderSequenceNumber")
        phases.done("check")
    finally:
        if watch is not None:
            watch.stop()
        for w in workers:
            w.stop()
        broker.stop()
        phases.done("stop")
    return figures
