"""A worker started with ``--grafana-url`` posts every decision it publishes as a Grafana
annotation (checked by the documented-API stand-in Grafana), after the broker acked it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.grafana import TOKEN, FakeGrafana, grafana
from tests.integration.worker.support import (
    broker_scenario,
    produce,
    read_control,
    start_worker,
    wait_for,
)
from topics.config import TopicsConfig

__all__ = ["grafana"]  # the fixture, used by name below


def test_worker_posts_each_decision_as_an_annotation(
    bootstrap: str,
    topics_config: TopicsConfig,
    tmp_path: Path,
    grafana: FakeGrafana,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROLLGUARD_GRAFANA_TOKEN", TOKEN)
    worker = start_worker(
        bootstrap, topics_config, "annotating", tmp_path, extra_args=["--grafana-url", grafana.url]
    )
    try:
        produce(bootstrap, topics_config.telemetry, broker_scenario({"ann": 30.0}, seconds=200))
        log = read_control(
            bootstrap, topics_config, lambda log: any(c.action == "rollback" for c in log.commands)
        )
        commands = log.distinct()
        wait_for(lambda: len(grafana.annotations) >= len(commands), timeout_s=30)
    finally:
        worker.stop()
    assert grafana.violations == []
    posted = {tuple(sorted(a["tags"])): a for a in grafana.annotations}
    for command in commands.values():
        tags = tuple(
            sorted(
                t
                for t in ("rollguard", f"rollout:{command.rollout_id}", f"action:{command.action}")
            )
        )
        assert any(set(tags) <= set(key) for key in posted), (tags, list(posted))
    rollback = next(a for a in grafana.annotations if "action:rollback" in a["tags"])
    decided = next(c for c in commands.values() if c.action == "rollback")
    assert decided.rule is not None and f"rule: {decided.rule}" in rollback["text"]
    assert "latency" in rollback["text"]  # the scenario's regression, named in the reason
    assert rollback["time"] == int(decided.issued_at * 1000)
