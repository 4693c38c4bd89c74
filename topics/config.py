"""Names and settings of rollguard's topics, in one place.

Input telemetry is read from ``telemetry`` (producers key it however they like), validated
and re-keyed by ``rollout_id`` into ``by_rollout`` (a repartition step, as Kafka Streams
does) so that all state of a rollout lives on one worker. Decisions go to ``control``; input
that cannot be used goes to ``dlq`` with the reason; worker state is checkpointed to the
compacted ``state`` topic.

``control`` is compacted with a 7-day ``min.compaction.lag.ms``: every command stays for at
least 7 days (the audit window; longer history comes from ``rollguard export``), and after
that the latest command of each rollout is kept forever, so an orchestrator that starts
late still learns every rollout's current verdict.

``status`` (compacted) holds each rollout's latest status and each worker's latest heartbeat
(:mod:`topics.status`): every worker materialises it to answer for the whole fleet, and
``rollguard status`` reads it. The compacted topics must stay compacted
(:meth:`TopicsConfig.compacted`): ``rollguard topics create`` repairs one created otherwise,
``topics describe`` flags it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Final

DAY_MS: Final = 86_400_000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)
    replication: int = 1


@dataclass(frozen=True)
class TopicsConfig:
    """Topic names (prefix them per environment) and their creation settings."""

    telemetry: str = "rollguard.telemetry"
    by_rollout: str = "rollguard.by-rollout"
    control: str = "rollguard.control"
    dlq: str = "rollguard.dlq"
    state: str = "rollguard.state"
    status: str = "rollguard.status"
    partitions: int = 8
    replication: int = 1

    def with_prefix(self, prefix: str) -> TopicsConfig:
        """The same layout under another prefix (tests, several environments on one broker)."""
        return replace(
            self,
            telemetry=f"{prefix}.telemetry",
            by_rollout=f"{prefix}.by-rollout",
            control=f"{prefix}.control",
            dlq=f"{prefix}.dlq",
            state=f"{prefix}.state",
            status=f"{prefix}.status",
        )

    def specs(self) -> list[TopicSpec]:
        r = self.replication
        return [
            TopicSpec(self.telemetry, self.partitions, {"retention.ms": str(7 * DAY_MS)}, r),
            TopicSpec(self.by_rollout, self.partitions, {"retention.ms": str(2 * DAY_MS)}, r),
            TopicSpec(
                self.control,
                4,
                {
                    "cleanup.policy": "compact",
                    "min.compaction.lag.ms": str(7 * DAY_MS),
                },
                r,
            ),
            TopicSpec(self.dlq, 4, {"retention.ms": str(14 * DAY_MS)}, r),
            # one state record per partition of by_rollout: same partition count
            TopicSpec(
                self.state,
                self.partitions,
                {"cleanup.policy": "compact", "segment.ms": str(3_600_000)},
                r,
            ),
            # small and read whole by every worker: few partitions, compacted often
            TopicSpec(
                self.status,
                4,
                {
                    "cleanup.policy": "compact",
                    "segment.ms": str(600_000),
                    "min.cleanable.dirty.ratio": "0.1",
                },
                r,
            ),
        ]

    def compacted(self) -> frozenset[str]:
        """Topics whose meaning depends on compaction (latest record per key)."""
        return frozenset({self.control, self.state, self.status})
