"""Shared fixtures. Integration tests get one real Apache Kafka broker per test session."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor import devbroker
from topics.config import TopicsConfig

ROOT = Path(__file__).resolve().parent.parent
_prefixes = itertools.count()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def kafka_broker(request: pytest.FixtureRequest) -> Iterator[devbroker.Broker]:
    """A real single-node Kafka (KRaft) on free loopback ports, for the whole session.

    ``ROLLGUARD_TEST_BOOTSTRAP`` points the tests at an existing broker instead.
    """
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    existing = os.environ.get("ROLLGUARD_TEST_BOOTSTRAP")
    if existing:
        _host, port = existing.rsplit(":", 1)
        yield devbroker.Broker(
            pid=-1, port=int(port), controller_port=-1, workdir=Path("/nonexistent")
        )
        return
    jars_cached = (
        devbroker.cache_dir() / f"kafka-{devbroker.KAFKA_VERSION}" / ".complete"
    ).exists()
    broker = devbroker.start()
    if reporter is not None:
        reporter.write_line(
            f"kafka broker {devbroker.KAFKA_VERSION} ready at {broker.bootstrap} in "
            f"{broker.started_s:.1f} s ({'cached jars' if jars_cached else 'jars fetched now'})"
        )
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def bootstrap(kafka_broker: devbroker.Broker) -> str:
    return kafka_broker.bootstrap


@pytest.fixture
def topics_config(bootstrap: str) -> TopicsConfig:
    """rollguard's topics under a fresh prefix, created on the session broker."""
    from topics.admin import create_topics

    config = TopicsConfig(partitions=4).with_prefix(f"t{os.getpid()}-{next(_prefixes)}")
    create_topics(bootstrap, config)
    return config
