"""What the worker says about an outage: one line when it starts, one when it ends, the
gauges meanwhile, and verdicts that do not pass off the last known state as the present.

The Kafka clients are stand-ins at their public methods (the broker is "away" while their
calls raise what aiokafka raises); the HTTP surface is the real aiohttp app.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from monitor.status.routes import FleetViews
from monitor.status.table import StatusTable
from monitor.worker.health import StageProgress, loop_check, progress_check
from monitor.worker.http import build_web_app
from monitor.worker.metrics import WorkerMetrics
from monitor.worker.reading import OutageMetrics, ReadingWatch, excusing_outages
from tests.integration.worker.threshold_core import ThresholdCore
from tests.keys import RING, WORKER
from tests.unit.worker.cluster import Cluster
from topics.status import RolloutStatus, RolloutView, sign_status, view_digest


def watch_over(cluster: Cluster, now: list[float], applied: dict[int, int]) -> ReadingWatch:
    return ReadingWatch(
        probe=cluster,
        admin=cluster,
        telemetry_topic="telemetry",
        by_rollout_topic="by_rollout",
        ingest_group="g.ingest",
        positions=lambda: dict(applied),
        held_back=lambda: 2,
        metrics=OutageMetrics(WorkerMetrics("w1", "test")),
        clock=lambda: now[0],
    )


def test_an_outage_is_told_once_when_it_starts_and_once_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cluster, now, applied = Cluster(), [100.0], {3: 4}
    watch = watch_over(cluster, now, applied)

    async def ticks(seconds: int) -> None:
        for _ in range(seconds):
            now[0] += 1.0
            await watch.tick()

    async def go() -> None:
        await ticks(2)
        assert watch.proven() == 102.0 and watch.cannot_read() is None
        cluster.away = True
        await ticks(4)
        assert watch.cannot_read() is None  # a few seconds without an answer: not yet
        await ticks(56)
        assert watch.cannot_read() == "broker unreachable for 60 s"
        assert watch.proven() == 102.0  # nothing proven while away
        cluster.away = False
        cluster.appended = cluster.forwarded = 30  # the backlog, forwarded meanwhile
        cluster.by_rollout = 9
        await ticks(1)
        assert watch.cannot_read() is None
        assert watch.proven() == 102.0  # the processor has not applied the backlog yet
        applied[3] = 9
        await ticks(1)
        assert watch.proven() == 106.0  # in reading time: the 60 s outage counts 3 s

    with caplog.at_level(logging.WARNING, logger="rollguard.worker"):
        asyncio.run(go())
    lines = [r.getMessage() for r in caplog.records if r.name == "rollguard.worker"]
    assert len(lines) == 2, lines
    assert lines[0].startswith("broker unreachable for 5 s (KafkaConnectionError")
    assert lines[1].startswith("broker reachable again after 61.0 s")


def test_outage_gauges() -> None:
    cluster, now = Cluster(), [0.0]
    metrics = WorkerMetrics("w1", "test")
    watch = watch_over(cluster, now, {3: 0})
    watch.metrics = OutageMetrics(metrics)
    cluster.away = True

    async def go() -> None:
        for _ in range(6):
            now[0] += 1.0
            await watch.tick()

    asyncio.run(go())
    text = metrics.render().decode()
    assert "rollguard_broker_unreachable 1.0" in text
    assert "rollguard_broker_outages_total 1.0" in text
    assert "rollguard_silences_held_back 2.0" in text
    assert "rollguard_input_proof_lag_seconds NaN" in text  # never proven since the start


def test_verdicts_and_views_say_the_monitor_cannot_read() -> None:
    """The worker's cut-off (``Worker._cannot_read``) turns every answer of the fleet table
    stale: inconclusive, with the reason, while the state it last knew stays readable."""
    table = StatusTable(RING, stale_after_s=60.0)
    view = RolloutView(
        rollout_id="r1", event_time=100.0, status="running", verdict="pass", promotion_gaps=[]
    )
    record = RolloutStatus(
        owner="w1", published_at=time.time(), view=view, digest=view_digest(view)
    )
    table.apply(b"r1", sign_status(record, WORKER), time.time())
    why: list[str | None] = [None]
    fleet = FleetViews(table, unavailable=lambda: why[0])
    app = build_web_app(
        ThresholdCore(), WorkerMetrics("w1", "test"), lambda: {"ok": True}, fleet=fleet
    )

    async def answers(client: TestClient) -> tuple[Any, Any]:
        verdict = await (await client.get("/verdict/r1")).json()
        view = await (await client.get("/rollouts/r1")).json()
        return verdict, view

    async def go() -> None:
        async with TestClient(TestServer(app)) as client:
            verdict, view = await answers(client)
            assert (verdict["outcome"], verdict["stale"], verdict["promotable"]) == (
                "ok",
                False,
                True,
            )
            assert not view["stale"]
            why[0] = "cannot read: broker unreachable for 12 s"
            verdict, view = await answers(client)
            assert verdict["outcome"] == "inconclusive" and not verdict["ok"]
            assert verdict["stale_reason"] == "cannot read: broker unreachable for 12 s"
            assert view["stale_reason"] == "cannot read: broker unreachable for 12 s"
            assert view["verdict"] == "pass"  # the state it last knew stays readable

    asyncio.run(go())


@pytest.mark.parametrize("kind", ["progress", "loop"])
def test_a_broker_outage_does_not_fail_the_stage_checks(kind: str) -> None:
    """A restart would not bring the broker back: while it does not answer, and for the
    stall time after it answers again, a stage that handles nothing (or whose loop waits on
    a send) is not called stuck; past that it is."""
    cluster, now = Cluster(), [0.0]
    watch = watch_over(cluster, now, {3: 4})
    stage = StageProgress("processor", 0.0)
    stage.lag = 100  # input waits, nothing handled, the loop never turns
    judge = progress_check if kind == "progress" else loop_check
    check = excusing_outages(judge(stage, 30.0), watch, 30.0)

    async def ticks(seconds: int) -> None:
        for _ in range(seconds):
            now[0] += 1.0
            await watch.tick()

    async def go() -> list[tuple[bool, str]]:
        seen = []
        cluster.away = True
        await ticks(40)
        seen.append(check(now[0]))  # away
        cluster.away = False
        await ticks(10)
        seen.append(check(now[0]))  # back 10 s ago
        await ticks(30)
        seen.append(check(now[0]))  # back 40 s ago, still nothing handled
        return seen

    away, catching_up, stuck = asyncio.run(go())
    assert away == (True, "waiting: broker unreachable for 40 s")
    assert catching_up.ok and catching_up.detail.startswith("catching up")
    want = "nothing handled for 80 s" if kind == "progress" else "has not turned for 80 s"
    assert not stuck.ok and want in stuck.detail
