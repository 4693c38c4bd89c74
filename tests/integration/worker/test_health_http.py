"""A worker's /healthz says when it is stuck, and answers whatever its HTTP clients do.

On the real broker, with real worker processes (poison telemetry between good events is in
``test_resilience.py``):

- an ingest whose forwards the broker refuses (``by_rollout`` lowered to 64-byte messages,
  as a misconfigured topic would) keeps failing at the same offset and turns /healthz red
  within its configured stall time, and green again once it can go on;
- 2,000 idle HTTP connections against a worker limited to 1,024 open files: /healthz answers
  within 1 s throughout and the log stays under 1 MB.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from tests.integration.worker.support import (
    THRESHOLD_CORE,
    produce,
    scenario,
    set_topic_config,
    start_worker,
    wait_for,
)
from topics.config import TopicsConfig


def test_a_stuck_ingest_turns_healthz_red_within_its_stall_time(
    bootstrap: str, topics_config: TopicsConfig, tmp_path: Path
) -> None:
    stall_s = 5.0
    worker = start_worker(
        bootstrap,
        topics_config,
        "w0",
        tmp_path,
        core_factory=THRESHOLD_CORE,
        extra_args=["--health-stall", str(stall_s)],
    )
    try:
        worker.wait_healthy()
        set_topic_config(
            bootstrap, topics_config.by_rollout, "max.message.bytes", "64"
        )  # no forward fits
        produce(bootstrap, topics_config.telemetry, scenario(rollouts=2, seconds=10))
        produced = time.monotonic()
        wait_for(lambda: worker.get("/healthz", timeout=2.0)[0] == 503, timeout_s=stall_s + 20)
        red_after = time.monotonic() - produced
        wait_for(lambda: not _health(worker)["checks"]["ingest_progress"]["ok"], stall_s + 20)
        checks = _health(worker)["checks"]
        assert "input messages wait" in checks["ingest_progress"]["detail"], checks
        assert "at the same input position" in checks["ingest_failures"]["detail"], checks
        assert red_after < stall_s + 15  # the stall time, plus a loaded machine's slack
        print(f"/healthz red {red_after:.1f} s after the input arrived (stall {stall_s:g} s)")

        set_topic_config(bootstrap, topics_config.by_rollout, "max.message.bytes", "1048588")
        wait_for(lambda: worker.get("/healthz", timeout=2.0)[0] == 200, timeout_s=90)
        wait_for(lambda: _health(worker)["events_applied"] == 2 * 20 * 3, timeout_s=30)
    finally:
        set_topic_config(bootstrap, topics_config.by_rollout, "max.message.bytes", "1048588")
        worker.stop()


def test_two_thousand_idle_connections_leave_healthz_answering(
    bootstrap: str, topics_config: TopicsConfig, tmp_path: Path
) -> None:
    worker = start_worker(
        bootstrap, topics_config, "w0", tmp_path, core_factory=THRESHOLD_CORE, open_files=1024
    )
    idle: list[socket.socket] = []
    try:
        worker.wait_healthy()
        log_before = worker.log_path.stat().st_size
        slowest = 0.0
        for i in range(2000):
            idle.append(socket.create_connection(("127.0.0.1", worker.http_port)))
            if i % 250 == 249:
                slowest = max(slowest, _probe(worker))
        for _ in range(10):
            slowest = max(slowest, _probe(worker))
            time.sleep(0.2)
        logged = worker.log_path.stat().st_size - log_before
        print(f"2,000 idle connections: slowest /healthz {slowest * 1000:.0f} ms, log +{logged} B")
        assert slowest < 1.0
        assert logged < 1_000_000
        assert worker.proc.poll() is None
    finally:
        for sock in idle:
            sock.close()
        worker.stop()


def _probe(worker) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    status, _ = worker.get("/healthz", timeout=5.0)
    assert status == 200
    return time.monotonic() - started


def _health(worker) -> dict:  # type: ignore[no-untyped-def, type-arg]
    return json.loads(worker.get("/healthz", timeout=5.0)[1])  # type: ignore[no-any-return]
