"""Create and describe rollguard's topics (idempotent): ``rollguard topics create|describe``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from topics.config import TopicsConfig, TopicSpec


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: int
    configs: dict[str, str]
    created: bool = False


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
    """Create every topic that does not exist yet; existing ones are left as they are."""
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
        return _describe(admin, config.specs(), created)
    finally:
        admin.close()


def describe_topics(
    bootstrap: str, config: TopicsConfig, client_options: dict[str, Any] | None = None
) -> list[TopicInfo]:
    admin = _admin(bootstrap, client_options)
    try:
        return _describe(admin, config.specs(), set())
    finally:
        admin.close()


def _describe(admin: Any, specs: list[TopicSpec], created: set[str]) -> list[TopicInfo]:
    from kafka.admin import ConfigResource, ConfigResourceType

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
    return [TopicInfo(n, partitions.get(n, 0), configs.get(n, {}), n in created) for n in names]
