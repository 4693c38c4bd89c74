"""Create and describe rollguard's topics (idempotent): ``rollguard topics create|describe``.

Topics are created only here: the CLI's clients are built with auto-creation off and workers
wait for their topics (``monitor.worker.topics_ready``), because a topic a client creates by
accident gets the broker's defaults — a control, state or status topic that is not compacted
loses the records its readers rely on. ``create`` repairs the cleanup policy of such a topic
(the broker changes it in place, and compaction keeps every keyed record's latest value) and
refuses what it cannot repair: a ``state`` topic whose partition count differs from
``by_rollout``'s (checkpoints are per ``by_rollout`` partition).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from topics.config import TopicsConfig, TopicSpec


class TopicsError(RuntimeError):
    """A topic is wrong in a way ``topics create`` does not repair."""


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: int
    configs: dict[str, str]
    created: bool = False
    problems: list[str] = field(default_factory=list)
    """What differs from rollguard's layout in a way that matters (empty: fine)."""
    repaired: list[str] = field(default_factory=list)


def _admin(bootstrap: str, client_options: dict[str, Any] | None = None) -> Any:
    from kafka import KafkaAdminClient

    return KafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="rollguard-admin", **(client_options or {})
    )


def create_topics(
    bootstrap: str,
    config: TopicsConfig,
    client_options: dict[str, Any] | None = None,
) -> list[TopicInfo]:
    """Create every topic that does not exist yet; repair the cleanup policy of compacted
    topics created otherwise; raise :class:`TopicsError` for what cannot be repaired."""
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = _admin(bootstrap, client_options)
    try:
        existing = set(admin.list_topics())
        created: set[str] = set()
        for spec in config.specs():
            if spec.name in existing:
                continue
            try:
                admin.create_topics(
                    [
                        NewTopic(
                            name=spec.name,
                            num_partitions=spec.partitions,
                            replication_factor=spec.replication,
                            topic_configs=spec.configs,
                        )
                    ],
                    wait_for_metadata=True,  # describe right after must see it
                )
                created.add(spec.name)
            except TopicAlreadyExistsError:  # created concurrently by another worker
                pass
        infos = _describe(admin, config, created)
        unrepairable = [p for i in infos for p in i.problems if not _repairable(p)]
        if unrepairable:
            raise TopicsError("; ".join(unrepairable))
        repaired = _repair(admin, config, infos)
        return _describe(admin, config, created, repaired) if repaired else infos
    finally:
        admin.close()


def describe_topics(
    bootstrap: str, config: TopicsConfig, client_options: dict[str, Any] | None = None
) -> list[TopicInfo]:
    """Every rollguard topic that exists, with what is wrong about it (``problems``)."""
    admin = _admin(bootstrap, client_options)
    try:
        return _describe(admin, config, set())
    finally:
        admin.close()


def missing_topics(names: set[str], config: TopicsConfig) -> list[str]:
    """Which of rollguard's topics are not among ``names`` (the broker's topics).

    >>> missing_topics({"rollguard.control"}, TopicsConfig())[:2]
    ['rollguard.telemetry', 'rollguard.by-rollout']
    """
    return [s.name for s in config.specs() if s.name not in names]


def layout_problems(
    spec: TopicSpec,
    partitions: int,
    configs: dict[str, str],
    config: TopicsConfig,
    by_rollout_partitions: int | None = None,
) -> list[str]:
    """What differs from ``spec`` in a way that matters (pure, for describe and create).
    ``by_rollout_partitions``: of the existing ``by_rollout`` topic (the state topic must
    match it), else the configured count.

    >>> cfg = TopicsConfig()
    >>> control = next(s for s in cfg.specs() if s.name == cfg.control)
    >>> layout_problems(control, 4, {}, cfg)
    ['rollguard.control: cleanup.policy is delete, expected compact']
    >>> layout_problems(control, 4, {"cleanup.policy": "compact"}, cfg)
    []
    >>> state = next(s for s in cfg.specs() if s.name == cfg.state)
    >>> layout_problems(state, 3, {"cleanup.policy": "compact"}, cfg, by_rollout_partitions=3)
    []
    >>> layout_problems(state, 3, {"cleanup.policy": "compact"}, cfg)[0][:40]
    'rollguard.state: 3 partitions, expected '
    """
    expected_state = by_rollout_partitions or config.partitions
    problems: list[str] = []
    if spec.name in config.compacted():
        policy = configs.get("cleanup.policy", "delete")
        if "compact" not in policy.split(","):
            problems.append(f"{spec.name}: cleanup.policy is {policy}, expected compact")
    if spec.name == config.state and partitions != expected_state:
        problems.append(
            f"{spec.name}: {partitions} partitions, expected {expected_state} "
            f"(one per {config.by_rollout} partition); delete and recreate it"
        )
    return problems


def _repairable(problem: str) -> bool:
    return "cleanup.policy" in problem


def _repair(admin: Any, config: TopicsConfig, infos: list[TopicInfo]) -> dict[str, list[str]]:
    """Set the spec's settings on topics whose cleanup policy is wrong; what was changed."""
    from kafka.admin import ConfigResource, ConfigResourceType

    specs = {s.name: s for s in config.specs()}
    repaired: dict[str, list[str]] = {}
    for info in infos:
        if not any(_repairable(p) for p in info.problems):
            continue
        wanted = specs[info.name].configs
        changes = {k: v for k, v in wanted.items() if info.configs.get(k) != v}
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, info.name, configs=changes)])
        repaired[info.name] = [f"{k}={v}" for k, v in sorted(changes.items())]
    return repaired


def _describe(
    admin: Any,
    config: TopicsConfig,
    created: set[str],
    repaired: dict[str, list[str]] | None = None,
) -> list[TopicInfo]:
    from kafka.admin import ConfigResource, ConfigResourceType

    specs = config.specs()
    existing = set(admin.list_topics())
    names = [s.name for s in specs if s.name in existing]
    if not names:
        return []
    partitions = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(names)}
    # config_filter="modified" (the default) returns the topic-level overrides we set
    response = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    configs = {
        name: {key: str(entry["value"]) for key, entry in entries.items()}
        for name, entries in response.get("topic", {}).items()
    }
    return [
        TopicInfo(
            s.name,
            partitions.get(s.name, 0),
            configs.get(s.name, {}),
            s.name in created,
            layout_problems(
                s,
                partitions.get(s.name, 0),
                configs.get(s.name, {}),
                config,
                partitions.get(config.by_rollout),
            ),
            (repaired or {}).get(s.name, []),
        )
        for s in specs
        if s.name in existing
    ]
