"""Human controls that need no worker: sign a command with an operator key and publish it
straight to the control topic; record sign-offs and lifecycle events on telemetry, signed
with the same key (workers count control-plane events only when an operator signed them).

Commands are keyed by ``rollout_id`` (as workers key theirs), so a human's command and the
workers' commands about one rollout share a partition and keep their order.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

import msgspec

from topics.codec import encode_event
from topics.commands import Action, Command, command_id, encode_command, sign
from topics.control_plane import sign_event
from topics.events import SCHEMA_VERSION, Event, Plan, PlanAction, Signoff
from topics.keys import SigningKey

OPERATOR_RULE_SET: Final = "operator"
DEFAULT_TTL_S: Final = 3600.0
PLAN_ACTION_OF: Final[Mapping[str, PlanAction]] = {
    "halt": "aborted",
    "pause": "paused",
    "freeze": "paused",
    "resume": "resumed",
}
"""The lifecycle event that tells the core what a human did (so it stops deciding on it)."""


def operator_command(
    key: SigningKey,
    *,
    rollout_id: str,
    action: Action,
    reason: str,
    stage: str = "*",
    now: float | None = None,
    ttl_s: float = DEFAULT_TTL_S,
    monitor_version: str = "",
) -> Command:
    """A command signed by the holder of the operator ``key`` (issuer ``operator:<name>``)."""
    if key.role != "operator":
        raise ValueError(f"key {key.key_id!r} is a {key.role} key, not an operator key")
    issued_at = time.time() if now is None else now
    by = key.name or ""
    issuer = f"operator:{by}"
    # unique per invocation: the same human killing twice is two commands, not a duplicate
    seq = int(issued_at * 1000)
    command = Command(
        v=1,
        command_id=command_id(rollout_id, stage, f"{OPERATOR_RULE_SET}:{by}", action, seq),
        rollout_id=rollout_id,
        stage=stage,
        action=action,
        reason=reason,
        rule=None,
        seq=seq,
        rule_set_version=OPERATOR_RULE_SET,
        issued_at=issued_at,
        expires_at=issued_at + ttl_s,
        monitor_version=monitor_version,
        issuer=issuer,
    )
    return sign(command, key)


def lifecycle_event(
    key: SigningKey, rollout_id: str, action: PlanAction, ts: float, stage: str | None = None
) -> Plan:
    """The signed ``plan`` event that tells the core what a human did."""
    plan = Plan(
        v=SCHEMA_VERSION, rollout_id=rollout_id, variant="canary", ts=ts, action=action,
        stage=stage,
    )  # fmt: skip
    return sign_event(plan, key)


def signoff_event(
    key: SigningKey, rollout_id: str, stage: str, role: str, ts: float, note: str | None = None
) -> Signoff:
    """A sign-off by the holder of ``key`` (``by`` is the key's name), signed."""
    event = Signoff(
        v=SCHEMA_VERSION, rollout_id=rollout_id, variant="canary", ts=ts, stage=stage,
        role=role, by=key.name or "", note=note,
    )  # fmt: skip
    return sign_event(event, key)


@contextmanager
def producer(bootstrap: str, kafka_options: Mapping[str, Any] | None = None) -> Iterator[Any]:
    """A kafka-python producer that waits for every in-sync replica (a kill must not vanish)."""
    from kafka import KafkaProducer

    prod = KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="rollguard-operator",
        acks="all",
        retries=5,
        max_block_ms=15_000,
        allow_auto_create_topics=False,  # topics come from `rollguard topics create` only
        **dict(kafka_options or {}),
    )
    try:
        yield prod
    finally:
        prod.close(timeout=10)


def publish_command(prod: Any, topic: str, command: Command, timeout_s: float = 15.0) -> Any:
    """Send and wait for the broker's ack; returns kafka-python's RecordMetadata."""
    future = prod.send(topic, key=command.rollout_id.encode(), value=encode_command(command))
    return future.get(timeout=timeout_s)


def publish_event(prod: Any, topic: str, event: Event, timeout_s: float = 15.0) -> Any:
    future = prod.send(topic, key=event.rollout_id.encode(), value=encode_event(event))
    return future.get(timeout=timeout_s)


def command_summary(command: Command) -> dict[str, Any]:
    """What to show a human or put in an evidence pack: everything except the signature."""
    body: dict[str, Any] = msgspec.to_builtins(command)
    body.pop("signature", None)
    return body
