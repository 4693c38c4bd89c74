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


# --- secrets never printed (tests/secrets.py) --------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Fail a test whose captured output (stdout, stderr, logs, failure report) shows a
    registered secret; the report names the secret, not its value."""
    from tests.secrets import leaks

    outcome = yield
    report = outcome.get_result()
    texts = [content for _, content in report.sections]
    if report.longrepr is not None:
        texts.append(str(report.longrepr))
    found = sorted({label for text in texts for label in leaks(text)})
    if found:
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid} printed test secrets: {found} ({report.when})"
        report.sections = [(name, "(withheld: it shows a secret)") for name, _ in report.sections]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Every watched output file (worker logs, CLI outputs) must be free of secrets."""
    from tests.secrets import watched_leaks

    found = watched_leaks()
    if found:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        for path, labels in found.items():
            if reporter is not None:
                reporter.write_line(f"SECRET LEAK: {path} shows {labels}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
