"""Prometheus files shipped in dashboards/prometheus, checked with Prometheus's own promtool.

- ``promtool check rules``: the recording and alerting rules are valid;
- ``promtool test rules``: each alert fires on the series it is written for and not on the
  healthy (or advisory) counterpart (dashboards/prometheus/rules_test.yml);
- ``promtool check config``: the docker-compose Prometheus configuration is valid;
- every PromQL expression of every dashboard panel and annotation parses (written as
  recording rules into a temporary rule file that ``promtool check rules`` parses).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from dashboards import render
from dashboards.detail import WHOLE_ROLLOUT
from tests.tools import missing_reason, prometheus_tool

PROM_DIR = Path(render.__file__).resolve().parent / "prometheus"
PROMTOOL = prometheus_tool("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason=missing_reason("promtool"))


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_rules_are_valid() -> None:
    result = _promtool("check", "rules", str(PROM_DIR / "rules.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    groups = yaml.safe_load((PROM_DIR / "rules.yml").read_text())["groups"]
    alerts = {r["alert"] for g in groups for r in g["rules"] if "alert" in r}
    assert {
        "RollguardWorkerDown",
        "RollguardDLQRateHigh",
        "RollguardConsumerLagHigh",
        "RollguardCheckpointStale",
        "RollguardRolloutHalted",
        "RollguardRolloutRolledBack",
    } <= alerts


def test_alerts_fire_as_written() -> None:
    result = _promtool("test", "rules", str(PROM_DIR / "rules_test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_tests_can_fail(tmp_path: Path) -> None:
    """The rule tests are not vacuous: with a stricter threshold one of them fails."""
    rules = (PROM_DIR / "rules.yml").read_text().replace("> 300", "> 900")
    (tmp_path / "rules.yml").write_text(rules)
    shutil.copy(PROM_DIR / "rules_test.yml", tmp_path / "rules_test.yml")
    result = _promtool("test", "rules", str(tmp_path / "rules_test.yml"))
    assert result.returncode != 0
    assert "RollguardCheckpointStale" in result.stdout + result.stderr


def test_compose_prometheus_config_is_valid(tmp_path: Path) -> None:
    config = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/rollguard-rules.yml"]  # compose mount
    config["rule_files"] = [str(PROM_DIR / "rules.yml")]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    result = _promtool("check", "config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert config["scrape_configs"][0]["job_name"] == "rollguard"


def test_every_dashboard_expression_parses(tmp_path: Path) -> None:
    variables = {
        "rollout": "r1",
        "segment": WHOLE_ROLLOUT,
        "signal": "error_rate",
        "datasource": "x",
    }
    rules = []
    for payload in render.render_all().values():
        for q in render.queries(json.loads(payload)):
            expr = render.expand(q.expr, variables)
            assert not re.search(r"\$[{\w]", expr), (q.panel, expr)  # every variable expanded
            rules.append({"record": f"check:{len(rules)}", "expr": expr})
    path = tmp_path / "exprs.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = _promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout
