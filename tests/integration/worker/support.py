"""Helpers for the worker's integration tests and benchmarks: scenarios, producing, reading
the control topic, and running workers as real subprocesses (so SIGKILL is real)."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import os
import resource
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from monitor.devbroker import free_port
from monitor.orchestrators import Accepted
from monitor.orchestrators.checks import verify_command
from tests.keys import RING, key_env, operator_signed
from tests.secrets import watch
from topics.codec import encode_batch, encode_event
from topics.commands import Command, decode_command, encode_command
from topics.config import TopicsConfig
from topics.events import Event, Metric, Order

ROOT = Path(__file__).resolve().parents[3]
THRESHOLD_CORE = "tests.integration.worker.threshold_core:build_core"
PLANS = (ROOT / "examples/plans/broker-bridge.yaml", ROOT / "examples/rules/broker-gates.yaml")
T0 = 1_763_000_000.0


def scenario(
    rollouts: int = 6,
    seconds: float = 60.0,
    step_s: float = 0.5,
    regressions: dict[int, tuple[float, float]] | None = None,
    blips: dict[int, tuple[float, float]] | None = None,
) -> list[Event]:
    """Interleaved telemetry of ``rollouts`` rollouts: per tick a baseline order, a canary
    order and a canary error_rate metric. ``regressions[i] = (start, end)`` puts rollout i's
    canary error rate at 0.2 between those seconds (sustained: pause, then proceed);
    ``blips`` do the same for a shorter time than the rule's ``for`` (no decision)."""
    regressions = regressions or {}
    blips = blips or {}
    events: list[Event] = []
    ticks = int(seconds / step_s)
    for tick in range(ticks):
        t = tick * step_s
        for i in range(rollouts):
            rid = f"r{i}"
            ts = T0 + t + i * 0.001
            bad = any(s <= t < e for s, e in (regressions.get(i, (-1, -1)), blips.get(i, (-1, -1))))
            events.append(
                Order(
                    v=1,
                    rollout_id=rid,
                    variant="baseline",
                    ts=ts,
                    order_id=f"b{tick}",
                    status="filled",
                    latency_ms=3.0 + (tick % 7),
                )
            )
            events.append(
                Order(
                    v=1,
                    rollout_id=rid,
                    variant="canary",
                    ts=ts,
                    order_id=f"c{tick}",
                    status="rejected" if bad else "filled",
                    latency_ms=4.0 + (tick % 5),
                    reject_reason="no_liquidity" if bad else None,
                )
            )
            events.append(
                Metric(
                    v=1,
                    rollout_id=rid,
                    variant="canary",
                    ts=ts,
                    name="error_rate",
                    value=0.2 if bad else 0.01 + (tick % 3) * 0.001,
                )
            )
    return events


def flapping(
    rollout_ids: Sequence[str], step_s: float, bad_s: float = 6.0, stagger_s: float = 0.77
) -> Iterator[Event]:
    """Endless test-core input whose canaries flap: per tick of ``step_s`` and rollout a
    baseline order, a canary order and the canary's error rate, high for ``bad_s`` of event
    time, then low for ``bad_s``, rollout i shifted by ``i * stagger_s``; so each rollout
    pauses and proceeds every ``bad_s`` or so, staggered across rollouts."""
    tick = 0
    while True:
        t = tick * step_s
        ts = T0 + t
        for i, rid in enumerate(rollout_ids):
            bad = (t + i * stagger_s) % (2 * bad_s) < bad_s
            yield Order(
                v=1,
                rollout_id=rid,
                variant="baseline",
                ts=ts,
                order_id=f"b{tick}",
                status="filled",
                latency_ms=3.0,
            )
            yield Order(
                v=1,
                rollout_id=rid,
                variant="canary",
                ts=ts,
                order_id=f"c{tick}",
                status="filled",
                latency_ms=4.0,
            )
            yield Metric(
                v=1,
                rollout_id=rid,
                variant="canary",
                ts=ts,
                name="error_rate",
                value=0.2 if bad else 0.01,
            )
        tick += 1


def offline(events: Sequence[Event], core: str = "real") -> list[Command]:
    """What ``Core.process`` over the same events decides (the ``rollguard replay`` answer)."""
    if core == "threshold":
        from tests.integration.worker.threshold_core import ThresholdCore

        return ThresholdCore(monitor_version="0.1.0").process(list(events))
    from monitor.core import Core, load_plans

    return Core(load_plans([str(p) for p in PLANS])).process(list(events))


def broker_scenario(regress_at: dict[str, float | None], seconds: int = 240) -> list[Event]:
    """The example broker plan's synthetic order flow for several rollouts, interleaved in
    event-time order (each rollout's own order kept). ``regress_at[rid]``: second at which
    that rollout's canary regresses (None: healthy throughout)."""
    from monitor.sim.synthetic import StreamSpec, generate

    streams = [
        generate(StreamSpec(rollout_id=rid, seconds=seconds, regress_at=at, seed=i + 1))
        for i, (rid, at) in enumerate(regress_at.items())
    ]
    return list(heapq.merge(*streams, key=lambda e: e.ts))


def produce(
    bootstrap: str,
    topic: str,
    events: Iterable[Event],
    *,
    batch_size: int = 0,
    extra: Callable[[int], bytes | None] | None = None,
    one_key: bytes | None = None,
    sign: bool = True,
) -> int:
    """Produce events keyed by rollout (one per message, or batch envelopes of
    ``batch_size`` events of one rollout; with ``one_key``, envelopes of consecutive events
    of any rollouts, all under that key). ``extra(i)`` may return a raw message to put
    before the i-th message (malformed-input tests). Plan and sign-off events are signed by
    the test operators (``tests.keys.operator_signed``; ``sign=False``: sent unsigned).
    Returns the messages sent."""
    events = operator_signed(list(events)) if sign else list(events)
    messages: list[tuple[bytes, bytes]] = []
    if batch_size and one_key is not None:  # consecutive events, any rollouts, one partition
        listed = list(events)
        messages = [
            (one_key, encode_batch(listed[i : i + batch_size]))
            for i in range(0, len(listed), batch_size)
        ]
    elif batch_size:
        by_rollout: dict[str, list[Event]] = {}
        for event in events:
            by_rollout.setdefault(event.rollout_id, []).append(event)
            if len(by_rollout[event.rollout_id]) >= batch_size:
                batch = by_rollout.pop(event.rollout_id)
                messages.append((event.rollout_id.encode(), encode_batch(batch)))
        messages += [(r.encode(), encode_batch(evs)) for r, evs in by_rollout.items()]
    else:
        messages = [(e.rollout_id.encode(), encode_event(e)) for e in events]
    if extra is not None:
        mixed: list[tuple[bytes, bytes]] = []
        for i, (key, value) in enumerate(messages):
            junk = extra(i)
            if junk is not None:
                mixed.append((key, junk))
            mixed.append((key, value))
        messages = mixed
    send_all(bootstrap, topic, messages)
    return len(messages)


def send_all(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    """Produce (key, value) messages as they are, in order, and wait for the acks."""
    asyncio.run(_send_all(bootstrap, topic, messages))


async def _send_all(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=1 << 20
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, value=v, key=k) for k, v in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


@dataclass
class ControlLog:
    """Everything read from the control topic so far (verified, grouped by command id)."""

    commands: list[Command] = field(default_factory=list)
    arrival: list[float] = field(default_factory=list)

    def by_id(self) -> dict[str, list[Command]]:
        out: dict[str, list[Command]] = {}
        for c in self.commands:
            out.setdefault(c.command_id, []).append(c)
        return out

    def distinct(self) -> dict[str, Command]:
        return {cid: cs[0] for cid, cs in self.by_id().items()}


def read_topic(
    bootstrap: str, topic: str, until: Callable[[list[Any]], bool], timeout_s: float = 60.0
) -> list[Any]:
    """Read ``topic`` from the beginning until ``until(records)`` or the deadline."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    records: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not until(records):
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
    finally:
        consumer.close()
    return records


def read_control(
    bootstrap: str,
    topics: TopicsConfig,
    until: Callable[[ControlLog], bool],
    timeout_s: float = 60.0,
) -> ControlLog:
    log = ControlLog()

    def done(records: list[Any]) -> bool:
        while len(log.commands) < len(records):
            verified = verify_command(records[len(log.commands)].value, RING)
            assert isinstance(verified, Accepted), verified
            log.commands.append(verified.command)
        return until(log)

    read_topic(bootstrap, topics.control, done, timeout_s)
    done([])  # no-op; keeps the log consistent
    return log


def content(command: Command) -> bytes:
    """The decision's content, signature aside (the key id may rotate), as it reads on the
    wire (a round trip, so an int-valued float from the core compares equal)."""
    unsigned = encode_command(msgspec.structs.replace(command, key_id="", signature=""))
    return encode_command(decode_command(unsigned))


def set_topic_config(bootstrap: str, topic: str, name: str, value: str) -> None:
    """Set one config of a topic (others stay as they are), e.g. to make the broker refuse
    records: ``max.message.bytes`` 64."""
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, configs={name: value})]
        )
    finally:
        admin.close()


def wait_for(condition: Callable[[], bool], timeout_s: float = 30.0, every_s: float = 0.1) -> None:
    """Poll ``condition`` until true; fail at the deadline."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout_s} s")
        time.sleep(every_s)


def metric(worker: WorkerProcess, name: str) -> float:
    """Sum of a metric's samples scraped from the worker's /metrics (0 if absent)."""
    total = 0.0
    for line in worker.get("/metrics")[1].decode().splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in {" ", "{"}:
            total += float(line.rsplit(" ", 1)[1])
    return total


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    http_port: int
    log_path: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http_port}{path}"

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        return self.get_with_token(path, None, timeout)

    def get_with_token(
        self, path: str, token: str | None, timeout: float = 5.0
    ) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url(path))
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def wait_healthy(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                status, _ = self.get("/healthz", timeout=1.0)
                if status == 200:
                    return
            time.sleep(0.2)
        raise AssertionError(f"worker not healthy in {timeout_s} s:\n{self.log_tail()}")

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 60) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"


def start_worker(
    bootstrap: str,
    topics: TopicsConfig,
    name: str,
    log_dir: Path,
    *,
    checkpoint_interval_s: float = 1.0,
    extra_args: Sequence[str] = (),
    core_factory: str | None = None,
    plans: Sequence[Path] = PLANS,
    open_files: int | None = None,
    env: dict[str, str] | None = None,
) -> WorkerProcess:
    port = free_port()
    prefix = topics.telemetry.rsplit(".", 1)[0]
    args = [
        sys.executable,
        "-m",
        "monitor.cli",
        "worker",
        "--bootstrap",
        bootstrap,
        "--topic-prefix",
        prefix,
        "--group",
        f"{prefix}-fleet",
        "--worker-id",
        name,
        "--http-port",
        str(port),
        "--checkpoint-interval",
        str(checkpoint_interval_s),
        "--log-level",
        "INFO",
        *extra_args,
    ]
    if core_factory:
        args += ["--core-factory", core_factory]
    else:
        for plan in plans:
            args += ["--plan", str(plan)]
    env = {**os.environ, **key_env(log_dir / "keys"), "PYTHONPATH": str(ROOT), **(env or {})}
    log_path = watch(log_dir / f"{name}.log")
    log = log_path.open("ab")
    limit = None
    if open_files is not None:  # e.g. the common 1,024: what a flood of connections meets

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=limit,  # noqa: PLW1509  # only setrlimit, before exec
    )
    log.close()
    return WorkerProcess(proc, port, log_path)
