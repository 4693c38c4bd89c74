"""Consume the control topic, obey only verified commands, exactly once in effect.

For each message, in partition order: :func:`~monitor.orchestrators.checks.check` (size, schema,
signature, key id, authority, expiry), then the store (``duplicate``, ``replayed``, and
``halted``: a worker command for a rollout an operator halted), then the user's handler.
After the handler returns, the command id is written to the store (durably) and only then
is the offset committed. A handler that raises is retried from the same offset
(at-least-once to the handler); the store turns any redelivery after a crash or a lost
offset into a dropped ``duplicate``. The one window left is a crash between the handler's
return and the store write: make the handler idempotent by ``command_id`` if that matters
to you.

Every partition of the control topic is assigned to this client (no consumer-group
balancing: every orchestrator instance must see every command); the group id only names
where its offsets are committed.

No message stops the loop: whatever the check or the store refuses (or the check itself
failing, ``check_failed``) is counted by reason, logged within a rate limit, and committed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple

from prometheus_client import CollectorRegistry, Counter, generate_latest

from monitor.edge.logs import RateLimit
from monitor.orchestrators.checks import REJECT_REASONS, Accepted, Policy, Rejected, RejectReason
from monitor.orchestrators.checks import check as check_command
from monitor.orchestrators.store import HandledStore
from topics.commands import Command
from topics.keys import KeyRing
from topics.signing import escape

log = logging.getLogger("rollguard.client")

Handler = Callable[[Command], None]
Status = Literal["delivered", "rejected", "retry"]
QUIET_REASONS: Final = frozenset({"duplicate", "expired", "advisory"})
"""Expected in normal operation (restarts, catching up): logged at INFO, not WARNING."""
PRUNE_EVERY_S: Final = 600.0
LOG_BURST: Final = 10
"""Log lines per rejection reason a minute (then how many more were not logged); every
rejection is counted in the metrics."""


def admit(
    data: bytes, keys: KeyRing, policy: Policy, store: HandledStore, now: float
) -> Accepted | Rejected:
    """What the client decides about one message before its handler: the stateless checks,
    then the store's (``duplicate``, ``replayed``, ``halted``). Delivering it is then
    ``handler(command)`` and ``store.record(command, now, role)``."""
    result = check_command(data, keys, policy, now)
    if not isinstance(result, Accepted):
        return result
    refused = store.refusal(result.command, result.trust)
    if refused is not None:
        return Rejected(refused[0], refused[1], result.command)
    return result


class Outcome(NamedTuple):
    """What happened to one control-topic message."""

    status: Status
    reason: RejectReason | None
    command_id: str
    rollout_id: str
    action: str
    partition: int
    offset: int


class ClientMetrics:
    """The client's own registry (several clients per process, no global state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.delivered = Counter(
            "rollguard_client_delivered",
            "Commands handed to the handler and committed, by action",
            ["action"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "rollguard_client_rejected",
            "Control-topic messages not delivered, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.handler_errors = Counter(
            "rollguard_client_handler_errors",
            "Handler calls that raised (the command is retried)",
            registry=self.registry,
        )
        for reason in REJECT_REASONS:  # every series exists from the start (alerts on rate)
            self.rejected.labels(reason)

    def render(self) -> bytes:
        return generate_latest(self.registry)


@dataclass
class ClientConfig:
    """Where to read and where to keep state (its ``repr`` shows the names of the Kafka
    options, never their values: they hold SASL passwords)."""

    bootstrap: str
    control_topic: str
    group_id: str
    state_path: str | Path
    """sqlite file of handled command ids; ":memory:" forgets on restart (tests only)."""
    start_from: Literal["earliest", "latest"] = "earliest"
    kafka_options: Mapping[str, Any] | None = field(default=None, repr=False)
    """Extra kafka-python settings, e.g. ``KafkaSecurity.from_env().kafka_python()``."""
    retry_backoff_s: float = 1.0

    def __repr__(self) -> str:
        return (
            f"ClientConfig(bootstrap={self.bootstrap!r}, control_topic={self.control_topic!r}, "
            f"group_id={self.group_id!r}, state_path={str(self.state_path)!r}, "
            f"start_from={self.start_from!r}, "
            f"kafka_options={sorted(self.kafka_options or {})!r}, "
            f"retry_backoff_s={self.retry_backoff_s!r})"
        )


class ControlClient:
    """Verified, deduplicated control commands to ``handler`` (see ``examples/orchestrator.py``)."""

    def __init__(
        self,
        config: ClientConfig,
        keys: KeyRing,
        handler: Handler,
        *,
        policy: Policy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from kafka import KafkaConsumer

        self.config = config
        self.keys = keys
        self.handler = handler
        self.policy = policy or Policy()
        self.clock = clock
        self.metrics = ClientMetrics()
        self._log_limit = RateLimit(burst=LOG_BURST)  # this client's, whatever the host's
        self.store = HandledStore(config.state_path, clock_skew_s=self.policy.clock_skew_s)
        self._next_prune = 0.0
        self._prune()
        self._retry_at = 0.0
        self._consumer = KafkaConsumer(
            bootstrap_servers=config.bootstrap,
            group_id=config.group_id,
            client_id=f"rollguard-client-{config.group_id}",
            enable_auto_commit=False,
            auto_offset_reset=config.start_from,
            # bounded input: one fetch never holds more than a few commands' worth per partition
            max_partition_fetch_bytes=max(self.policy.max_command_bytes * 4, 1 << 20),
            **dict(config.kafka_options or {}),
        )
        self._assign()

    def _assign(self, timeout_s: float = 30.0) -> None:
        from kafka import TopicPartition

        deadline = time.monotonic() + timeout_s
        while True:
            partitions = self._consumer.partitions_for_topic(self.config.control_topic)
            if partitions:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"control topic {self.config.control_topic!r} not found")
            time.sleep(0.2)
        self._consumer.assign(
            [TopicPartition(self.config.control_topic, p) for p in sorted(partitions)]
        )

    def _prune(self) -> None:
        if time.monotonic() >= self._next_prune:
            self.store.prune(self.clock(), self.policy.max_lifetime_s)
            self._next_prune = time.monotonic() + PRUNE_EVERY_S

    def poll(self, timeout_s: float = 1.0) -> list[Outcome]:
        """Process what arrives within ``timeout_s``; return what happened to each message."""
        self._prune()
        wait = self._retry_at - time.monotonic()
        if wait > 0:
            time.sleep(min(wait, timeout_s))
            return []
        batches = self._consumer.poll(timeout_ms=int(timeout_s * 1000))
        outcomes: list[Outcome] = []
        for tp, records in batches.items():
            for record in records:
                outcome = self._process(tp, record.offset, record.value)
                outcomes.append(outcome)
                if outcome.status == "retry":
                    self._consumer.seek(tp, record.offset)
                    self._retry_at = time.monotonic() + self.config.retry_backoff_s
                    break  # keep this partition's order: nothing after it until it succeeds
        return outcomes

    def run(self, stop: threading.Event | None = None, poll_timeout_s: float = 1.0) -> None:
        """Poll until ``stop`` is set (forever without one)."""
        stop = stop or threading.Event()
        while not stop.is_set():
            self.poll(poll_timeout_s)

    def _process(self, tp: Any, offset: int, value: bytes | None) -> Outcome:
        now = self.clock()
        try:
            result = admit(value or b"", self.keys, self.policy, self.store, now)
        except Exception:  # a bug in the check: this message is skipped, the loop goes on
            log.exception("control message %s[%d]@%d: check failed", tp.topic, tp.partition,
                          offset)  # fmt: skip
            result = Rejected("check_failed", "the check raised (logged)")
        if not isinstance(result, Accepted):
            return self._reject(tp, offset, result.reason, result.detail, result.command)
        command, role = result.command, result.trust
        try:
            self.handler(command)
        except Exception:
            log.exception(
                "handler failed for command %s (%s %s); will retry",
                command.command_id,
                command.action,
                command.rollout_id,
            )
            self.metrics.handler_errors.inc()
            return _outcome("retry", None, command, tp, offset)
        self.store.record(command, now, role)
        self._commit(tp, offset)
        self.metrics.delivered.labels(command.action).inc()
        return _outcome("delivered", None, command, tp, offset)

    def _reject(
        self,
        tp: Any,
        offset: int,
        reason: RejectReason,
        detail: str,
        command: Command | None,
    ) -> Outcome:
        """Count, log (at most ``LOG_BURST`` lines a minute per reason: the reason is part of
        the template :class:`~monitor.edge.logs.RateLimit` keys on), commit past it. Only fields
        that passed the schema's patterns are logged as they are (no newline from the topic)."""
        self.metrics.rejected.labels(reason).inc()
        level = logging.INFO if reason in QUIET_REASONS else logging.WARNING
        self._log(
            level,
            "rejected control message %s[%d]@%d: " + reason + " (%s) command_id=%s "
            "rollout=%s action=%s",
            tp.topic,
            tp.partition,
            offset,
            escape(detail),
            command.command_id if command else "-",
            command.rollout_id if command else "-",
            command.action if command else "-",
        )
        self._commit(tp, offset)  # a rejected message never becomes valid: move past it
        return _outcome("rejected", reason, command, tp, offset)

    def _log(self, level: int, template: str, *args: object) -> None:
        """``log.log`` through this client's :class:`~monitor.edge.logs.RateLimit`."""
        if log.isEnabledFor(level):
            record = log.makeRecord(log.name, level, __file__, 0, template, args, None)
            if self._log_limit.filter(record):
                log.handle(record)

    def _commit(self, tp: Any, offset: int) -> None:
        from kafka.structs import OffsetAndMetadata

        self._consumer.commit({tp: OffsetAndMetadata(offset + 1, "", -1)})

    def close(self) -> None:
        self._consumer.close(autocommit=False)
        self.store.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _outcome(
    status: Status, reason: RejectReason | None, command: Command | None, tp: Any, offset: int
) -> Outcome:
    return Outcome(
        status,
        reason,
        command.command_id if command else "",
        command.rollout_id if command else "",
        command.action if command else "",
        tp.partition,
        offset,
    )
