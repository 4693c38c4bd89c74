"""Telemetry can no longer steer a rollout, through the real broker and a real worker:
unsigned, worker-signed and wrongly-scoped plan and sign-off events go to the dead-letter
topic with their reason and change nothing; the worker decides exactly what the offline
replay of the genuine events decides (the rollback stays a rollback, not advisory), and its
views answer only with the token."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from tests.integration.worker.support import (
    broker_scenario,
    offline,
    produce,
    read_control,
    read_topic,
    start_worker,
)
from tests.integration.worker.test_fleet import assert_same_decisions
from tests.keys import OPERATOR, SIGNERS, WORKER
from tests.secrets import assert_clean, secret
from topics.codec import encode_event
from topics.config import TopicsConfig
from topics.control_plane import sign_event
from topics.deadletters import decode_dead_letter
from topics.events import Plan, Signoff

TOKEN = secret("worker http token", "worker-view-token-0123456789")


def hostile(rollout: str, ts: float) -> list[tuple[bytes, str]]:
    """Control-plane events an attacker on the telemetry topic could send, and the reason
    each must be dead-lettered with."""

    def plan(action: str) -> Plan:
        return Plan(v=1, rollout_id=rollout, variant="canary", ts=ts, action=action)  # type: ignore[arg-type]

    signoff = Signoff(v=1, rollout_id=rollout, variant="canary", ts=ts, stage="canary-20",
                      role="cto", by="cto@broker.example")  # fmt: skip
    stolen = encode_event(sign_event(plan("registered"), OPERATOR))
    return [
        (encode_event(plan("dry_run")), "unsigned"),
        (encode_event(plan("completed")), "unsigned"),
        (encode_event(signoff), "unsigned"),
        (encode_event(sign_event(plan("aborted"), WORKER)), "not_authorized"),  # a worker key
        (encode_event(sign_event(signoff, SIGNERS["coo"])), "not_authorized"),  # coo as cto
        (stolen.replace(b'"registered"', b'"completed"'), "bad_signature"),  # tampered
        (
            encode_event(sign_event(plan("dry_run"), OPERATOR)).replace(b"{", b'{"v":1,', 1),
            "duplicate_key",
        ),
    ]


def test_unsigned_plan_and_signoff_events_change_nothing(
    bootstrap: str, topics_config: TopicsConfig, tmp_path: Path
) -> None:
    events = broker_scenario({"ra": 20.0, "rb": None}, seconds=160)
    expected = offline(events)
    assert any(c.action == "rollback" and not c.advisory for c in expected)
    attacks = hostile("ra", events[0].ts + 1)

    def inject(i: int) -> bytes | None:
        return attacks[i // 40][0] if i % 40 == 5 and i // 40 < len(attacks) else None

    worker = start_worker(bootstrap, topics_config, "w-attacked", tmp_path,
                          env={"ROLLGUARD_HTTP_TOKEN": TOKEN})  # fmt: skip
    try:
        worker.wait_healthy()
        produce(bootstrap, topics_config.telemetry, events, extra=inject)
        log = read_control(
            bootstrap, topics_config, lambda log: len(log.distinct()) >= len(expected)
        )
        assert_same_decisions(log, expected)  # not advisory, not completed: as if never sent
        dead = read_topic(bootstrap, topics_config.dlq, lambda r: len(r) >= len(attacks))
        letters = [decode_dead_letter(r.value) for r in dead]
        assert Counter(d.reason for d in letters) == Counter(reason for _, reason in attacks)
        assert all(d.topic == topics_config.telemetry and d.message for d in letters)

        assert worker.get("/rollouts/ra")[0] == 401
        status, body = worker.get_with_token("/rollouts/ra", TOKEN)
        assert status == 200 and json.loads(body)["status"] == "rolled_back"
        verdict = json.loads(worker.get_with_token("/verdict/ra", TOKEN)[1])
        assert (verdict["outcome"], verdict["promotable"]) == ("failed", False)
        assert_clean(worker.get("/metrics")[1], "/metrics")
    finally:
        worker.stop()
