"""The orchestrator client against a real broker: what it refuses, and why; exactly-once effect."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from monitor.operators.controls import operator_command
from monitor.orchestrators import Policy
from tests.integration.orchestrator.support import (
    Harness,
    drain,
    produce,
    settle,
    tamper,
    worker_command,
)
from tests.keys import OPERATOR, WORKER
from tests.secrets import assert_clean
from topics.commands import command_id, encode_command, sign
from topics.config import TopicsConfig
from topics.keys import SigningKey


def test_every_kind_of_bad_command_is_refused_with_its_reason(
    bootstrap: str, topics_config: TopicsConfig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = time.time()
    valid = worker_command(action="pause", seq=10, issued_at=now)
    older = worker_command(action="promote", seq=9, issued_at=now - 60)  # signed, never seen
    attacker = SigningKey.generate(WORKER.key_id, "worker")  # key ids are public
    forged = sign(
        tamper(valid, command_id=command_id("r1", "canary-5", "rs1", "promote", 11)), attacker
    )
    forged_unknown_kid = sign(tamper(valid, seq=12), SigningKey.generate("w9", "worker"))
    promote_by_ana = operator_command(OPERATOR, rollout_id="r1", action="promote", reason="x")
    halt_by_ana = operator_command(OPERATOR, rollout_id="r1", action="halt", reason="stop")
    messages: list[tuple[str | None, bytes]] = [
        (None, encode_command(valid)),
        ("bad_signature", encode_command(forged)),
        ("unknown_key", encode_command(forged_unknown_kid)),
        ("bad_signature", encode_command(tamper(valid, action="promote"))),
        ("bad_signature", encode_command(tamper(valid, rollout_id="r2"))),
        ("bad_signature", encode_command(tamper(valid, expires_at=valid.expires_at + 3600))),
        ("bad_signature", encode_command(tamper(valid, advisory=True))),
        ("unsigned", encode_command(tamper(valid, signature="", key_id=""))),
        ("expired", encode_command(worker_command(seq=20, issued_at=now - 4000, ttl_s=300))),
        ("not_yet_valid", encode_command(worker_command(seq=21, issued_at=now + 600))),
        ("lifetime_too_long", encode_command(worker_command(seq=22, ttl_s=30 * 86_400))),
        ("duplicate", encode_command(valid)),
        ("replayed", encode_command(older)),
        ("not_authorized", encode_command(worker_command(action="resume", seq=23))),
        ("advisory", encode_command(worker_command(seq=24, advisory=True))),
        ("malformed", b"{not json"),
        ("malformed", encode_command(valid).replace(b'"v":1', b'"v":1,"extra":"unsigned"')),
        ("unknown_version", encode_command(sign(tamper(valid, v=2), WORKER))),
        ("oversized", b"{" + b" " * (70 * 1024) + b"}"),
        ("not_authorized", encode_command(worker_command("*", action="halt", seq=30))),
        ("not_authorized", encode_command(sign(tamper(valid, issuer="operator:ana"), WORKER))),
        ("not_authorized", encode_command(promote_by_ana)),
        (None, encode_command(halt_by_ana)),
        ("halted", encode_command(worker_command(action="promote", seq=31))),
        ("halted", encode_command(worker_command(action="rollback", seq=32))),
    ]
    produce(bootstrap, topics_config.control, [value for _, value in messages])
    delivered = [valid, halt_by_ana]

    harness = Harness(bootstrap, topics_config, tmp_path / "state.sqlite")
    with caplog.at_level(logging.INFO, logger="rollguard.client"), harness.client() as client:
        outcomes = drain(client, lambda o: len(o) >= len(messages))
        registry = client.metrics.registry
        rejected = {
            reason: registry.get_sample_value("rollguard_client_rejected_total", {"reason": reason})
            for reason, _ in messages
            if reason
        }

    assert [o.reason for o in outcomes] == [reason for reason, _ in messages]
    assert [o.status == "delivered" for o in outcomes] == [r is None for r, _ in messages]
    assert harness.handled == delivered
    assert rejected["bad_signature"] == 5 and rejected["malformed"] == 2
    assert all(count and count >= 1 for count in rejected.values())
    logged = caplog.text
    for reason, _ in messages:
        assert reason is None or f": {reason} (" in logged
    assert_clean(logged, "client log")


def test_a_valid_command_reaches_the_handler_exactly_once_across_restarts(
    bootstrap: str, topics_config: TopicsConfig, tmp_path: Path
) -> None:
    harness = Harness(bootstrap, topics_config, tmp_path / "state.sqlite")
    first = worker_command(action="pause", seq=1)
    produce(bootstrap, topics_config.control, [encode_command(first)])
    harness.fail_next = 2  # the orchestrator's own API is down twice: retried, not lost
    with harness.client() as client:
        drain(client, lambda o: any(x.status == "delivered" for x in o))
        assert (
            client.metrics.registry.get_sample_value("rollguard_client_handler_errors_total") == 2
        )
    assert harness.handled == [first]

    # restart: the committed offset is honoured, a worker re-publishing the same decision
    # (same deterministic id) is dropped, a new decision is delivered
    second = worker_command(action="rollback", seq=2)
    produce(bootstrap, topics_config.control, [encode_command(first), encode_command(second)])
    with harness.client() as client:
        outcomes = drain(client, lambda o: len(o) >= 2)
        outcomes += settle(client)
    assert [(o.status, o.reason) for o in outcomes] == [
        ("rejected", "duplicate"),
        ("delivered", None),
    ]
    assert harness.handled == [first, second]

    # offsets lost (new group id reads from the beginning): the persisted ids still hold
    with harness.client(group="orchestrator-test-offsets-lost") as client:
        outcomes = drain(client, lambda o: len(o) >= 3)
    assert [o.reason for o in outcomes] == ["duplicate"] * 3
    assert harness.handled == [first, second]


def test_state_is_bounded_and_pruned_by_expiry(
    bootstrap: str, topics_config: TopicsConfig, tmp_path: Path
) -> None:
    from monitor.orchestrators import HandledStore

    store = HandledStore(tmp_path / "s.sqlite", clock_skew_s=0, max_entries=3)
    now = time.time()
    for seq in range(5):
        store.record(worker_command(seq=seq, issued_at=now + seq, ttl_s=10), now, "worker")
    store.record(worker_command(seq=99, issued_at=now - 100, ttl_s=10), now, "worker")  # expired
    assert store.count() == 6
    assert store.prune(now, max_lifetime_s=86_400) == 3
    assert store.count() == 3
    assert store.seen(worker_command(seq=4, issued_at=now + 4).command_id)
    assert not store.seen(worker_command(seq=0, issued_at=now).command_id)
    store.close()
    del bootstrap, topics_config


def test_operator_keys_are_separate_from_worker_keys(
    bootstrap: str, topics_config: TopicsConfig, tmp_path: Path
) -> None:
    from monitor.operators.controls import operator_command

    resume = operator_command(OPERATOR, rollout_id="r1", action="resume", reason="ok")
    # a genuine operator signature, but claiming to be a worker: refused
    impostor = sign(tamper(resume, issuer="worker", command_id="0" * 32), OPERATOR)
    produce(bootstrap, topics_config.control, [encode_command(resume), encode_command(impostor)])
    harness = Harness(bootstrap, topics_config, tmp_path / "state.sqlite")
    with harness.client(Policy()) as client:
        outcomes = drain(client, lambda o: len(o) >= 2)
    assert [(o.status, o.reason) for o in outcomes] == [
        ("delivered", None),
        ("rejected", "not_authorized"),
    ]
    assert harness.handled == [resume]
