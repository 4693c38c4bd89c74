"""Keys, signed commands and a client harness for the orchestrator-side integration tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from monitor.orchestrators import ClientConfig, ControlClient, Outcome, Policy
from tests.keys import RING, WORKER
from topics.commands import Command, command_id, sign
from topics.config import TopicsConfig


def worker_command(
    rollout_id: str = "r1",
    action: str = "pause",
    seq: int = 1,
    issued_at: float | None = None,
    ttl_s: float = 300.0,
    **fields: Any,
) -> Command:
    """A command as a worker would publish it, signed with the worker key."""
    issued = time.time() if issued_at is None else issued_at
    command = Command(
        v=1,
        command_id=command_id(rollout_id, "canary-5", "rs1", action, seq),
        rollout_id=rollout_id,
        stage="canary-5",
        action=action,  # type: ignore[arg-type]
        reason=f"{action} because of a test",
        seq=seq,
        rule_set_version="rs1",
        issued_at=issued,
        expires_at=issued + ttl_s,
        issuer="worker",
        **fields,
    )
    return sign(command, WORKER)


def tamper(command: Command, **changes: Any) -> Command:
    """The signed command with fields changed after signing (signature kept)."""
    return msgspec.structs.replace(command, **changes)


def produce(bootstrap: str, topic: str, values: list[bytes], key: bytes = b"r1") -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=4 << 20)
    try:
        for value in values:
            producer.send(topic, key=key, value=value).get(timeout=15)
    finally:
        producer.close(timeout=10)


@dataclass
class Harness:
    """A real client on the control topic that records what its handler received."""

    bootstrap: str
    topics: TopicsConfig
    state: Path
    group: str = "orchestrator-test"
    handled: list[Command] = field(default_factory=list)
    fail_next: int = 0

    def handler(self, command: Command) -> None:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise RuntimeError("orchestrator API down")
        self.handled.append(command)

    def client(self, policy: Policy | None = None, group: str | None = None) -> ControlClient:
        config = ClientConfig(
            bootstrap=self.bootstrap,
            control_topic=self.topics.control,
            group_id=group or self.group,
            state_path=self.state,
            retry_backoff_s=0.1,
        )
        return ControlClient(config, RING, self.handler, policy=policy)


def drain(
    client: ControlClient,
    until: Callable[[list[Outcome]], bool],
    timeout_s: float = 20.0,
) -> list[Outcome]:
    """Poll until ``until(outcomes)`` holds (or fail after ``timeout_s``)."""
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + timeout_s
    while not until(outcomes):
        assert time.monotonic() < deadline, f"timed out; got {outcomes}"
        outcomes.extend(client.poll(0.2))
    return outcomes


def settle(client: ControlClient, quiet_s: float = 1.0) -> list[Outcome]:
    """Poll until nothing arrives for ``quiet_s``."""
    outcomes: list[Outcome] = []
    last = time.monotonic()
    while time.monotonic() - last < quiet_s:
        got = client.poll(0.2)
        if got:
            outcomes.extend(got)
            last = time.monotonic()
    return outcomes


def publish_status(
    bootstrap: str,
    topics: TopicsConfig,
    rollout_id: str,
    stages: dict[str, list[str]] | None = None,
    owner: str = "w-gone",
) -> None:
    """A rollout's status as its (since stopped) owner published it: the operator commands
    check rollouts, stages and roles against it. ``stages``: name -> sign-off roles."""
    from tests.keys import WORKER
    from topics.status import RolloutStatus, RolloutView, StageView, sign_status

    stages = stages if stages is not None else {"canary-5": ["cto"], "full": []}
    view = RolloutView(
        rollout_id=rollout_id,
        stage=next(iter(stages)),
        stages=list(stages),
        stage_plan=[StageView(name=n, signoffs=roles) for n, roles in stages.items()],
        status="running",
    )
    record = RolloutStatus(owner=owner, published_at=time.time(), view=view, digest="d")
    value = sign_status(record, WORKER)
    produce(bootstrap, topics.status, [value], key=rollout_id.encode())
