"""Human controls that need no worker: sign a command with an operator key and publish it
straight to the control topic; record sign-offs and lifecycle events on telemetry.

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
from topics.events import Event, PlanAction
from topics.keys import KeyRing

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
    ring: KeyRing,
    *,
    rollout_id: str,
    action: Action,
    by: str,
    reason: str,
    stage: str = "*",
    now: float | None = None,
    ttl_s: float = DEFAULT_TTL_S,
    monitor_version: str = "",
) -> Command:
    """A signed command from the human ``by`` (issuer ``operator:<by>``)."""
    issued_at = time.time() if now is None else now
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
    return sign(command, ring.active_id, ring.signing_key)


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
