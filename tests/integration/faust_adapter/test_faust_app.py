"""``examples/faust_app.py`` (a faust app with rollguard installed) on the real broker: it
decides exactly what ``rollguard replay`` decides over the same simulated events, sends bad
input to the DLQ as the native worker does, and a worker SIGKILLed mid-stream loses no
decision and repeats none with different content when the other worker takes over."""

from __future__ import annotations

import os
import re
import signal
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.integration.faust_adapter.support import lines_keyed, replay, simulate, start_faust_app
from tests.integration.worker.support import (
    WorkerProcess,
    metric,
    read_control,
    read_topic,
    send_all,
    wait_for,
)
from tests.integration.worker.test_fleet import assert_same_decisions, partition_of
from topics.commands import Command
from topics.config import TopicsConfig
from topics.deadletters import decode_dead_letter

# two rollouts: lp_outage (an LP outage on the shared market) makes both reduce scope at
# ~698 s; latency_regression then rolls back at ~820 s (~46k events, 8 orders/s per rollout)
SCENARIOS = ("latency_regression", "lp_outage")
PAUSE_S = 9.0  # a worker stopped this long has lost its partitions (session timeout 6 s)


@dataclass(frozen=True)
class Stream:
    messages: list[tuple[bytes, bytes]]
    expected: list[Command]


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Stream:
    """``rollguard simulate`` and what ``rollguard replay`` decides over it."""
    tmp = tmp_path_factory.mktemp("sim")
    events = tmp / "events.jsonl"
    simulate(events, *SCENARIOS, order_rate=8)
    expected = replay(events, tmp)
    assert [c.action for c in expected] == ["reduce_scope", "reduce_scope", "rollback"]
    return Stream(lines_keyed(events), expected)


def junk(now: float) -> list[tuple[bytes, bytes, str]]:
    """(key, value, the DLQ reason the native worker gives it)."""
    future = orjson.dumps(
        {"kind": "metric", "v": 1, "rollout_id": "lp_outage", "variant": "canary",
         "ts": now + 3600, "name": "error_rate", "value": 0.9}
    )  # fmt: skip
    return [
        (b"noise", b"not json at all", "not_json"),
        (b"lp_outage", b'{"kind":"metric","v":1,"rollout_id":"lp_outage"}', "missing_field"),
        (b"x", b'{"kind":"order","v":1,"order_id":"o1"}', "missing_field"),
        (b"lp_outage", b'{"kind":"metric","v":9,"rollout_id":"lp_outage"}', "unknown_version"),
        (b"lp_outage", future, "future_timestamp"),
    ]


def test_the_example_app_decides_what_replay_decides_and_dead_letters_bad_input(
    bootstrap: str, topics_config: TopicsConfig, tmp_path: Path, stream: Stream
) -> None:
    expected, messages = stream.expected, list(stream.messages)
    bad = junk(time.time())
    step = len(messages) // (len(bad) + 1)
    for i, (key, value, _) in reversed(list(enumerate(bad))):  # spread through the stream
        messages.insert((i + 1) * step, (key, value))
    send_all(bootstrap, topics_config.telemetry, messages)

    app = start_faust_app(bootstrap, topics_config, f"{_prefix(topics_config)}-eq", "eq", tmp_path)
    try:
        app.wait_healthy(120)
        log = read_control(
            bootstrap, topics_config, lambda log: len(log.distinct()) >= len(expected), 240
        )
        assert_same_decisions(log, expected)

        letters = [
            decode_dead_letter(r.value)
            for r in read_topic(bootstrap, topics_config.dlq, lambda rs: len(rs) >= len(bad), 60)
        ]
        assert sorted((d.reason, d.original) for d in letters) == sorted(
            (reason, value) for _, value, reason in bad
        )
        assert {d.topic for d in letters} == {topics_config.telemetry}
        assert all(d.offset >= 0 and d.partition >= 0 for d in letters)
        assert metric(app, "rollguard_dlq_total") == len(bad)

        # the native worker's routes and metrics, on the faust app's web server: the
        # rollouts and verdicts from the fleet's status topic, which the app publishes too
        wait_for(lambda: _view(app, "latency_regression").get("status") == "rolled_back", 30)
        view = _view(app, "latency_regression")
        assert not view["stale"] and view["owner"] and view["age_s"] < 5, view
        verdict = orjson.loads(app.get("/verdict/latency_regression")[1])
        assert verdict["failed"] and verdict["last_action"] == "rollback", verdict
        assert _flagger(app, "rollback", "latency_regression") == 200  # roll back now
        assert _flagger(app, "rollout", "latency_regression") == 403
        listing = orjson.loads(app.get("/rollouts")[1])
        assert {row["rollout_id"] for row in listing["rollouts"]} == set(SCENARIOS)
        unknown = app.get("/rollouts/latency_regresion")
        assert unknown[0] == 404
        assert orjson.loads(unknown[1])["did_you_mean"] == ["latency_regression"]
        text = app.get("/metrics")[1].decode()
        for name in ("rollguard_decisions_total", "rollguard_rule_state", "rollguard_signal"):
            assert name in text
        assert metric(app, "rollguard_decisions_total") == len(expected)
    finally:
        app.stop()


def test_a_faust_worker_killed_mid_stream_loses_no_decision_and_repeats_none_changed(
    bootstrap: str, topics_config: TopicsConfig, tmp_path: Path, stream: Stream
) -> None:
    expected, messages = stream.expected, stream.messages
    # the cut: 40 s of event time before the rollback, its rule pending for ~80 s by then
    last = expected[-1]
    cut = next(
        i for i, (_, line) in enumerate(messages) if orjson.loads(line)["ts"] > last.issued_at - 40
    )
    cut_ts = orjson.loads(messages[cut][1])["ts"]
    early = [c for c in expected if c.issued_at < cut_ts]
    assert early and last.issued_at > cut_ts

    app_id = f"{_prefix(topics_config)}-kill"  # a fresh consumer group and state table
    workers = [start_faust_app(bootstrap, topics_config, app_id, n, tmp_path) for n in "ab"]
    try:
        for worker in workers:
            worker.wait_healthy(120)
        wait_for(lambda: all(_partitions(w) for w in workers), 60)  # both hold some
        send_all(bootstrap, topics_config.telemetry, messages[:cut])
        read_control(bootstrap, topics_config, lambda log: len(log.distinct()) >= len(early), 180)
        # every worker answers for every rollout, the other's included (the status topic)
        wait_for(lambda: all(_view(w, r).get("owner") for w in workers for r in SCENARIOS), 30)

        # kill the worker holding the rollout that decides last: its state must survive
        victim_partition = partition_of(last.rollout_id, topics_config.partitions)
        victim = next(i for i, w in enumerate(workers) if victim_partition in _partitions(w))
        wait_for(lambda: metric(workers[victim], "rollguard_checkpoints_total") >= 1)
        victim_id = _view(workers[1 - victim], last.rollout_id)["owner"]  # as the other says
        workers[victim].kill()
        survivor = workers[1 - victim]

        send_all(bootstrap, topics_config.telemetry, messages[cut:])
        log = read_control(
            bootstrap, topics_config, lambda log: len(log.distinct()) >= len(expected), 240
        )
        assert_same_decisions(log, expected)  # none lost, none with two contents
        assert victim_partition in _partitions(survivor)
        # the survivor loaded the victim's rollouts from the table on assignment
        loaded = re.findall(r"owns partitions \[[\d, ]+\] \((\d+) rollouts\)", _log(survivor))
        assert loaded and int(loaded[-1]) >= 1, survivor.log_tail()
        assert metric(survivor, "rollguard_checkpoints_unusable_total") == 0
        # the survivor now owns the victim's rollout and answers as its owner; before it
        # published, the rollout read stale (inconclusive), never a pass
        wait_for(lambda: _view(survivor, last.rollout_id).get("status") == "rolled_back", 30)
        taken = _view(survivor, last.rollout_id)
        assert not taken["stale"] and taken["owner"] not in ("", victim_id), taken
        assert orjson.loads(survivor.get(f"/verdict/{last.rollout_id}")[1])["failed"]
    finally:
        for worker in workers:
            worker.stop()


@pytest.mark.skipif(
    not os.environ.get("ROLLGUARD_FAUST_STALL_TEST"),
    reason="a known gap, not yet closed (docs/faust.md, 'A worker stalled past its session "
    "timeout'): it fails about 1 run in 6; ROLLGUARD_FAUST_STALL_TEST=1 runs it",
)
def test_workers_paused_past_their_session_timeout_lose_no_decision_and_repeat_none_changed(
    bootstrap: str, topics_config: TopicsConfig, tmp_path: Path, stream: Stream
) -> None:
    """Each worker in turn stops (SIGSTOP) for longer than its session timeout while input
    flows, then goes on (SIGCONT) not knowing it lost its partitions: the other takes them
    over, and the paused one's late forwards, commits and table entries must not cost an
    event. What a starved worker on a loaded machine does, on purpose."""
    expected, messages = stream.expected, stream.messages
    app_id = f"{_prefix(topics_config)}-pause"
    workers = [start_faust_app(bootstrap, topics_config, app_id, n, tmp_path) for n in "ab"]
    thirds = [messages[i * len(messages) // 3 : (i + 1) * len(messages) // 3] for i in range(3)]
    try:
        for worker in workers:
            worker.wait_healthy(120)
        wait_for(lambda: all(_partitions(w) for w in workers), 60)
        send_all(bootstrap, topics_config.telemetry, thirds[0])
        # every worker holding a rollout has committed some of it (see docs/faust.md:
        # a partition nothing was ever committed on is not covered)
        wait_for(
            lambda: all(
                metric(w, "rollguard_checkpoints_total") >= 1
                for w in workers
                if orjson.loads(w.get("/healthz")[1]).get("rollouts")
            ),
            60,
        )
        for worker, third in zip(workers, thirds[1:], strict=True):
            os.kill(worker.proc.pid, signal.SIGSTOP)
            try:
                send_all(bootstrap, topics_config.telemetry, third)
                time.sleep(PAUSE_S)  # past the 6 s session timeout: the other takes over
            finally:
                os.kill(worker.proc.pid, signal.SIGCONT)
            worker.wait_healthy(120)
        log = read_control(
            bootstrap, topics_config, lambda log: len(log.distinct()) >= len(expected), 240
        )
        assert_same_decisions(log, expected)  # none lost, none with two contents
    finally:
        for worker in workers:
            if worker.proc.poll() is None:
                os.kill(worker.proc.pid, signal.SIGCONT)
            worker.stop()


def _view(worker: WorkerProcess, rollout_id: str) -> dict[str, Any]:
    """``/rollouts/{id}`` ({} while the worker does not know it yet)."""
    status, body = worker.get(f"/rollouts/{rollout_id}")
    return dict(orjson.loads(body)) if status == 200 else {}


def _flagger(worker: WorkerProcess, hook: str, rollout_id: str) -> int:
    body = orjson.dumps({"name": rollout_id, "namespace": "shop", "phase": "Progressing"})
    request = urllib.request.Request(worker.url(f"/flagger/{hook}"), data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _partitions(worker: WorkerProcess) -> list[int]:
    report = orjson.loads(worker.get("/healthz")[1])
    return list(report.get("partitions", []))


def _log(worker: WorkerProcess) -> str:
    return worker.log_path.read_text(errors="replace")


def _prefix(topics: TopicsConfig) -> str:
    return topics.telemetry.rsplit(".", 1)[0]
