"""/healthz tells the truth: a loop that turns but gets nowhere, or retries one position
forever, or a process past its memory limit, is unhealthy; and the HTTP server that answers
it stays reachable whatever its other clients do."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest
from aiohttp import web

from monitor.worker.health import (
    CheckResult,
    Health,
    StageProgress,
    failures_check,
    loop_check,
    memory_check,
    progress_check,
)
from monitor.worker.ingest import IngestStage
from monitor.worker.limits import HttpLimits
from monitor.worker.metrics import WorkerMetrics
from monitor.worker.publisher import Publisher
from monitor.worker.server import _Connections, serve
from tests.keys import RING as TRUSTED
from tests.unit.worker.pipeline import RING, TELEMETRY, Consumer
from tests.unit.worker.records import Record
from topics.codec import encode_event
from topics.control_plane import ControlPlaneGate
from topics.events import Metric


def test_progress_fails_only_when_input_waits_and_nothing_is_handled() -> None:
    stage = StageProgress("ingest", started_s=0.0)
    check = progress_check(stage, stall_s=10.0)
    assert check(100.0).ok  # nothing waiting: idle is healthy
    stage.lag = 50
    stage.advanced(5, now=95.0)
    assert check(100.0).ok
    assert not check(105.0).ok
    assert "50 input messages wait" in check(105.0).detail
    stage.advanced(1, now=106.0)
    assert check(107.0).ok
    stage.lag = 0
    assert check(500.0).ok


def test_the_same_position_failing_again_and_again_is_unhealthy() -> None:
    stage = StageProgress("ingest", started_s=0.0)
    check = failures_check(stage, max_failures=3)
    for _ in range(2):
        stage.failed(((TELEMETRY, 7),), "KafkaTimeoutError")
    assert check(0.0).ok
    stage.failed(((TELEMETRY, 8),), "KafkaTimeoutError")  # another position: a new streak
    assert stage.failures == 1
    for _ in range(2):
        stage.failed(((TELEMETRY, 8),), "KafkaTimeoutError")
    assert not check(0.0).ok and "KafkaTimeoutError" in check(0.0).detail
    stage.advanced(1, now=1.0)
    assert check(1.0).ok


def test_a_loop_that_does_not_turn_and_a_process_past_its_memory_are_unhealthy() -> None:
    stage = StageProgress("processor", started_s=0.0)
    assert loop_check(stage, 30.0)(29.0).ok
    assert not loop_check(stage, 30.0)(31.0).ok
    assert memory_check(200 << 20, read=lambda: 100 << 20)(0.0).ok
    assert not memory_check(200 << 20, read=lambda: 300 << 20)(0.0).ok


def test_checks_are_named_and_a_broken_one_reads_unhealthy() -> None:
    health = Health()
    health.add("fine", lambda now: CheckResult(True, "ok"))
    with pytest.raises(ValueError, match="already registered"):
        health.add("fine", lambda now: CheckResult(True, "ok"))

    def broken(now: float) -> CheckResult:
        raise ZeroDivisionError

    health.add("broken", broken)
    report = health.report(0.0)
    assert report["ok"] is False
    assert report["checks"]["broken"] == {"ok": False, "detail": "check failed: ZeroDivisionError"}


class RefusingBroker:
    """A broker whose forwards fail (e.g. a topic it cannot write)."""

    async def send(self, topic: str, value: Any = None, key: Any = None, partition: Any = None):
        raise RuntimeError(f"cannot write {topic}")

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}


def test_an_ingest_that_cannot_forward_turns_red_on_the_same_offset() -> None:
    stage = IngestStage(
        consumer=Consumer(),
        publisher=Publisher(RefusingBroker(), RING, "control", resend=False),
        metrics=WorkerMetrics("w", "t"),
        by_rollout_topic="by",
        dlq_topic="dlq",
        gate=ControlPlaneGate(TRUSTED),
    )
    check = failures_check(stage.progress, max_failures=5)
    event = Metric(v=1, rollout_id="r1", variant="canary", ts=1.7e9, name="x", value=1.0)

    async def go() -> None:
        for _ in range(5):
            assert check(0.0).ok
            await stage.round({TELEMETRY: [Record(7, encode_event(event))]})  # type: ignore[dict-item]  # stand-ins

    asyncio.run(go())
    assert not check(0.0).ok
    assert stage.consumer.seeks == [(TELEMETRY, 7)] * 5


async def _app(limits: HttpLimits) -> tuple[Any, int]:
    app = web.Application()

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(60)
        return web.Response()

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/slow", slow)
    return await serve(app, "127.0.0.1", 0, limits, WorkerMetrics("w", "t"))


async def _get(port: int, path: str) -> tuple[int, float]:
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    status = int((await reader.readline()).split()[1])
    writer.close()
    return status, time.monotonic() - started


def test_idle_connections_past_the_cap_make_room_for_a_probe() -> None:
    async def go() -> None:
        server, port = await _app(HttpLimits(max_connections=8))
        try:
            idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]
            status, took = await asyncio.wait_for(_get(port, "/healthz"), 5)
            assert status == 200 and took < 1.0
            for sock in idle:
                sock.close()
        finally:
            await server.cleanup()

    asyncio.run(go())


def test_slow_headers_are_cut_at_the_idle_timeout_and_slow_answers_at_the_request_timeout() -> None:
    async def go() -> None:
        limits = HttpLimits(idle_timeout_s=0.5, request_timeout_s=0.5)
        server, port = await _app(limits)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            started = time.monotonic()
            closed = False
            for _ in range(30):  # one header byte every 0.1 s, never done
                try:
                    writer.write(b"G")
                    await writer.drain()
                except ConnectionError:  # the server hung up: what the limit is for
                    closed = True
                    break
                await asyncio.sleep(0.1)
                if reader.at_eof():
                    closed = True
                    break
            assert closed
            assert time.monotonic() - started < 2.0
            status, took = await asyncio.wait_for(_get(port, "/slow"), 5)
            assert status == 408 and took < 2.0
        finally:
            await server.cleanup()

    asyncio.run(go())


def test_a_failing_view_answers_503_and_the_server_goes_on() -> None:
    async def go() -> None:
        app = web.Application()

        async def broken(_: web.Request) -> web.Response:
            raise KeyError("r1\n")

        app.router.add_get("/rollouts/x", broken)
        server, port = await serve(app, "127.0.0.1", 0)
        try:
            for _ in range(3):
                status, _took = await asyncio.wait_for(_get(port, "/rollouts/x"), 5)
                assert status == 503
            assert (await asyncio.wait_for(_get(port, "/nope"), 5))[0] == 404
        finally:
            await server.cleanup()

    asyncio.run(go())


class _Accepted:
    """What the cap sees of a connection's protocol: its transport, once connected."""

    transport: Any = None
    closed = False

    def force_close(self) -> None:
        self.closed = True


class _Open:
    def is_closing(self) -> bool:
        return False


def test_a_burst_of_accepted_connections_counts_toward_the_cap() -> None:
    """asyncio makes the protocols of a whole accept burst before it connects any of them:
    those count too, or a flood escapes the cap (it took a worker's last file handles)."""
    connections = _Connections(3, None)
    connections.server = _Accepted  # type: ignore[assignment]  # the protocol factory
    burst = [connections() for _ in range(5)]  # accepted, none connected yet
    for handler in burst:
        handler.transport = _Open()
    connections()  # one more: over the cap, the oldest idle connection is closed
    assert [h.closed for h in burst] == [True, False, False, False, False]
