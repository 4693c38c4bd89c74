"""A broker outage is not a silent canary: two workers ride through a 60 s outage (SIGTERM
and SIGKILL of the broker) with a rule pending, and a worker whose idempotent producer breaks
exits at once and loses nothing across its restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest

from monitor.core import Core, load_plans
from monitor.worker.producer import WatchedProducer
from tests.integration.worker.outage import run_outage
from tests.integration.worker.support import (
    PLANS,
    THRESHOLD_CORE,
    WorkerProcess,
    broker_scenario,
    metric,
    produce,
    read_control,
    scenario,
    set_topic_config,
    start_worker,
    wait_for,
)
from tests.integration.worker.test_fleet import assert_same_decisions
from topics.config import TopicsConfig

LOG_BUDGET_BYTES = 1_000_000
KAFKA_MAX = "1048588"  # the broker's default message.max.bytes


@pytest.mark.parametrize("stop", ["term", "kill"])
def test_a_long_broker_outage_mid_stream(stop: str, tmp_path: Path) -> None:
    """The broker down >= 60 s (past the 30 s silence threshold and aiokafka's 40 s request
    timeout) while envelopes, commands and checkpoints are in flight and rb's rollback rule
    is pending: afterwards the control topic holds exactly the offline replay's decisions,
    every event was applied once and none late, and both workers run and are healthy."""
    figures = run_outage(stop, tmp_path)
    report = figures.summary()
    assert figures.missing == [], report
    assert figures.extra == [], report  # no false freeze from a deaf worker's "silence"
    assert figures.differing == [], report
    assert figures.late == 0, report
    assert figures.applied == figures.want_applied, report
    for worker in figures.workers:
        assert worker.healthy_at_end, report
        assert worker.log_bytes_outage < LOG_BUDGET_BYTES, report
        assert worker.cannot_read_after_s is not None and worker.cannot_read_after_s < 15, report
        said = [line for line in worker.own_lines if "broker unreachable" in line]
        assert len(said) == 1, report
    # what ops read meanwhile: verdicts say the monitor cannot read (never a stale ok)
    assert figures.verdict_before == "ok ()", report  # running, nothing decided against it
    assert "inconclusive (cannot read: broker unreachable)" in figures.verdicts_during, report
    assert figures.unreachable_seen and figures.held_back > 0, report


def test_a_real_silence_is_still_raised_within_seconds(
    bootstrap: str, topics_config: TopicsConfig, tmp_path: Path
) -> None:
    """The proof does not mute a genuine silence: on a live broker the worker proves its
    input about once a second, so once the producers stop, each variant's silence is raised
    ``--silence-after`` later, stamped after its last event by the silent time."""
    events = scenario(rollouts=2, seconds=10)
    last = {(e.rollout_id, e.variant): e.ts for e in events}
    worker = start_worker(
        bootstrap,
        topics_config,
        "w0",
        tmp_path,
        core_factory=THRESHOLD_CORE,
        extra_args=["--silence-after", "3"],
    )
    try:
        worker.wait_healthy()
        produce(bootstrap, topics_config.telemetry, events)
        produced = time.monotonic()
        log = read_control(
            bootstrap,
            topics_config,
            lambda log: len([c for c in log.commands if c.action == "freeze"]) >= len(last),
            30,
        )
        waited = time.monotonic() - produced
        freezes = [c for c in log.commands if c.action == "freeze"]  # ThresholdCore: Silence
        assert {c.rollout_id for c in freezes} == {"r0", "r1"}, log.commands
        assert waited < 20, f"silences raised {waited:.1f} s after the input ended"
        assert all(c.issued_at >= last[(c.rollout_id, "canary")] + 3 for c in freezes)
        assert metric(worker, "rollguard_silences_total") == len(last)
        assert metric(worker, "rollguard_input_proof_lag_seconds") < 5
        assert metric(worker, "rollguard_broker_unreachable") == 0
    finally:
        worker.stop()


def test_one_refused_batch_breaks_the_idempotent_producer_for_good(
    bootstrap: str, topics_config: TopicsConfig
) -> None:
    """Why a worker exits on OutOfOrderSequenceNumber (aio-libs/aiokafka#1017): after the
    broker refused one batch, every later send to that partition fails, and nothing but a
    new producer mends it. The watch lets the refusal itself through (the ingest handles
    one) and reports the first send into the hole, once."""
    from aiokafka import AIOKafkaProducer

    async def go() -> list[str]:
        broken: list[BaseException] = []
        producer = WatchedProducer(
            AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True),
            broken.append,
        )
        await producer.start()
        outcomes = []
        try:
            # a compacted topic refuses a record without a key: a batch the broker refuses
            for key in (b"r1", None, b"r1", b"r1"):
                future = await producer.send(topics_config.control, b"x", key=key, partition=0)
                try:
                    await future
                    outcomes.append("ok")
                except Exception as exc:
                    outcomes.append(type(exc).__name__)
            await (await producer.send(topics_config.control, b"x", key=b"r1", partition=1))
        finally:
            await producer.stop()
        assert [type(e).__name__ for e in broken] == ["OutOfOrderSequenceNumber"]
        assert producer.broken_by == f"OutOfOrderSequenceNumber on {topics_config.control}[0]"
        return outcomes

    outcomes = asyncio.run(go())
    assert outcomes[0] == "ok" and outcomes[1] != "ok"
    assert outcomes[2:] == ["OutOfOrderSequenceNumber"] * 2  # partition 1 still works


def _events_applied(worker: WorkerProcess, rollouts: list[str]) -> dict[str, int]:
    counts = {}
    for rid in rollouts:
        status, body = worker.get(f"/rollouts/{rid}")
        if status == 200:
            counts[rid] = int(orjson.loads(body)["counts"]["events"])
    return counts


@pytest.mark.parametrize(
    ("refused", "fatal"),
    [("control", "MessageSizeTooLargeError"), ("by_rollout", "OutOfOrderSequenceNumber")],
)
def test_a_broken_producer_exits_at_once_and_its_restart_loses_nothing(
    refused: str, fatal: str, bootstrap: str, topics_config: TopicsConfig, tmp_path: Path
) -> None:
    """The broker refuses batches for a moment (the topic's message limit cut to 64 bytes),
    as it expires them after a long outage: the idempotent producer's numbering of that
    partition now has a hole that aiokafka never closes. A refused command breaks the
    worker at once (sent again it could land after a later one); a refused envelope makes
    the ingest read its input again, and the first send into the hole once the limit is
    back (OutOfOrderSequenceNumber) breaks it. Either way the worker exits 1 within seconds
    and, restarted (its supervisor's part), resumes from its checkpoint and last commit: the
    envelopes sent again are applied, not dropped as repeats, every event exactly once, and
    the control topic ends with exactly the offline replay's decisions."""
    events = broker_scenario({"ra": 30.0, "rb": 135.0, "rc": None}, seconds=330)
    core = Core(load_plans([str(p) for p in PLANS]))
    expected = core.process(events)
    want_applied = {rid: core.counters(rid)["events"] for rid in ("ra", "rb", "rc")}
    half = len(events) // 2
    first_half = [c for c in expected if c.issued_at < events[half].ts]
    assert first_half and len(first_half) < len(expected)  # rb decides after the cut
    topic = getattr(topics_config, refused)
    worker = start_worker(bootstrap, topics_config, "w0", tmp_path)
    try:
        worker.wait_healthy()
        produce(bootstrap, topics_config.telemetry, events[:half])
        read_control(bootstrap, topics_config, lambda log: len(log.distinct()) >= len(first_half))
        wait_for(lambda: metric(worker, "rollguard_checkpoints_total") >= 1)

        set_topic_config(bootstrap, topic, "max.message.bytes", "64")
        produce(bootstrap, topics_config.telemetry, events[half:])
        wait_for(lambda: "MessageSizeTooLargeError" in worker.log_path.read_text(), 60)
        set_topic_config(bootstrap, topic, "max.message.bytes", KAFKA_MAX)
        restored = time.monotonic()
        wait_for(lambda: worker.proc.poll() is not None, 60)
        exited_s = time.monotonic() - restored
        assert worker.proc.returncode == 1, worker.log_tail()
        assert f"producer broken ({fatal} on {topic}" in worker.log_tail()
        assert exited_s < 30, f"exited {exited_s:.1f} s after the limit was back"

        worker = start_worker(bootstrap, topics_config, "w0", tmp_path)
        log = read_control(
            bootstrap, topics_config, lambda log: len(log.distinct()) >= len(expected), 90
        )
        assert_same_decisions(log, expected)
        wait_for(lambda: _events_applied(worker, list(want_applied)) == want_applied, 30)
        assert worker.get("/healthz")[0] == 200
    finally:
        worker.stop()
