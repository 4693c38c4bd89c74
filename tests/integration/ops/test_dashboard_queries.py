"""Every PromQL expression of every dashboard, evaluated by a real Prometheus scraping real
workers fed by the simulator.

Two ``rollguard worker`` processes (the product core over the example plan and rules) read
from the session's Apache Kafka what two ``rollguard simulate --kafka`` processes produce:
the ``latency_regression`` scenario as a canary at 50 % (→ rollback) and the
``shadow_mismatch`` scenario under the shadow plan (→ advisory freeze), 900 s of event time
each, plus three malformed messages (→ dead-letter topic). Prometheus (Debian's
binaries) scrapes both workers every second with the shipped alerting/recording rules loaded. Then
each panel target and annotation query of the three rendered dashboards is sent to
``/api/v1/query`` with Grafana's variables expanded as Grafana would: every one must succeed
and return at least one finite sample (per rollout where the dashboard is per rollout; the
threshold and band targets of the repeated signal panel need data for some signal, since
only some signals have threshold or learned rules). The template variables' label queries
are checked through ``/api/v1/label/.../values``, and the shipped alert
RollguardRolloutRolledBack must be firing in that Prometheus.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards import render
from dashboards.detail import WHOLE_ROLLOUT, named
from monitor.devbroker import Broker, free_port
from tests.integration.worker.support import (
    ROOT,
    WorkerProcess,
    start_worker,
    wait_for,
)
from tests.keys import key_files
from tests.tools import missing_reason, prometheus_tool
from topics.admin import create_topics
from topics.config import TopicsConfig

PROMETHEUS = prometheus_tool("prometheus")
pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason=missing_reason("prometheus"))
PLANS = ("examples/plans/broker-bridge.yaml", "examples/rules/broker-gates.yaml")
RULES = ROOT / "dashboards" / "prometheus" / "rules.yml"
CANARY, SHADOW = "latency_regression", "shadow_mismatch"  # rollout ids = scenario names
DURATION_S = 900  # seed 0: shadow freeze at ~775 s, canary rollback at ~807 s of event time


def produce(bootstrap: str, topic: str, messages: Iterable[tuple[bytes | None, bytes]]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for key, value in messages:
            producer.send(topic, key=key, value=value)
        producer.flush(60)
    finally:
        producer.close()


def simulate(
    bootstrap: str, prefix: str, keys: Path, scenario: str, *extra: str
) -> subprocess.Popen[bytes]:
    """``rollguard simulate`` producing one scenario's rollout to the telemetry topic (its
    plan events signed by the test operator's key, as workers require)."""
    args = [
        sys.executable,
        "-m",
        "monitor",
        "simulate",
        "--scenario",
        scenario,
        "--seed",
        "0",
        f"--duration={DURATION_S}",
        "--order-rate=6",
        "--traffic=50",
        "--batch=500",
        "--kafka",
        f"--bootstrap={bootstrap}",
        f"--topic-prefix={prefix}",
        f"--operator-key={key_files(keys)[1]}",
        *extra,
    ]
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@dataclass
class Prometheus:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def get(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=10) as response:
            return json.loads(response.read())

    def query(self, expr: str) -> dict[str, Any]:
        reply: dict[str, Any] = self.get("/api/v1/query", query=expr)
        return reply

    def scalar(self, expr: str) -> float:
        result = self.query(expr)["data"]["result"]
        return float(result[0]["value"][1]) if result else math.nan


def start_prometheus(workdir: Path, targets: list[str]) -> Prometheus:
    assert PROMETHEUS is not None
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": "rollguard", "static_configs": [{"targets": targets}]}],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = workdir / "prometheus.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    prom = Prometheus(proc, f"http://127.0.0.1:{port}", log)

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"{prom.url}/-/ready", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            assert proc.poll() is None, log.read_text()[-3000:]
            return False

    wait_for(ready, timeout_s=30)
    return prom


@pytest.fixture(scope="module")
def stack(kafka_broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """Two workers, Prometheus, and the simulated stream fully processed (one per module)."""
    bootstrap = kafka_broker.bootstrap
    topics = TopicsConfig(partitions=4).with_prefix(f"ops{os.getpid()}")
    create_topics(bootstrap, topics)
    tmp_path = tmp_path_factory.mktemp("ops")
    workers: list[WorkerProcess] = []
    prom: Prometheus | None = None
    try:
        for name in ("ops-w1", "ops-w2"):
            workers.append(
                start_worker(bootstrap, topics, name, tmp_path, core_factory=None, plans=PLANS)
            )
        prom = start_prometheus(tmp_path, [f"127.0.0.1:{w.http_port}" for w in workers])
        for w in workers:
            w.wait_healthy()
        wait_for(lambda: prom.scalar('sum(up{job="rollguard"})') == 2, timeout_s=20)
        junk: list[tuple[bytes | None, bytes]] = [
            (None, b"not json at all"),
            (None, b'{"v": 1, "kind": "order"}'),
            (None, b"\xff\xfe"),
        ]
        produce(bootstrap, topics.telemetry, junk)
        prefix = topics.telemetry.rsplit(".", 1)[0]
        sims = [
            simulate(bootstrap, prefix, tmp_path / "keys", CANARY, "--stage=canary-5"),
            simulate(
                bootstrap, prefix, tmp_path / "keys", SHADOW, "--plan-name=bridge-routing-v2-shadow"
            ),
        ]
        for sim in sims:
            output, _ = sim.communicate(timeout=120)
            assert sim.returncode == 0, output.decode(errors="replace")[-3000:]
        # the whole stream processed (no lag, all applied), decisions acked, then a few scrapes
        wait_for(lambda: prom.scalar("sum(rollguard_decisions_total)") >= 2, timeout_s=60)
        wait_for(lambda: prom.scalar("sum(rollguard_consumer_lag)") == 0, timeout_s=30)
        wait_for(lambda: prom.scalar("count(rollguard_signal_band)") >= 1, timeout_s=30)
        time.sleep(2)
        yield prom
    finally:
        for w in workers:
            if w.proc.poll() is None:
                w.proc.send_signal(signal.SIGTERM)
        for w in workers:
            w.stop()
        if prom is not None:
            prom.proc.terminate()
            prom.proc.wait(10)


def _finite(reply: dict[str, Any]) -> bool:
    data = reply["data"]
    if data["resultType"] == "scalar":
        return math.isfinite(float(data["result"][1]))
    return any(math.isfinite(float(s["value"][1])) for s in data["result"])


def test_every_panel_query_returns_data(stack: Prometheus) -> None:
    prom = stack
    rollouts = prom.get("/api/v1/label/rollout/values", **{"match[]": "rollguard_rollout_info"})
    assert sorted(rollouts["data"]) == [CANARY, SHADOW]
    signals = {
        r: prom.get(
            "/api/v1/label/signal/values", **{"match[]": f'rollguard_signal{{rollout="{r}"}}'}
        )["data"]
        for r in (CANARY, SHADOW)
    }
    assert {"latency_p99_ms", "error_rate", "status_mismatches", "pnl_cum"} <= set(signals[CANARY])
    assert {"shadow_match_rate", "shadow_price_dev_bps"} <= set(signals[SHADOW])
    segments = prom.get(
        "/api/v1/label/segment/values", **{"match[]": f'rollguard_signal{{rollout="{CANARY}"}}'}
    )["data"]
    assert any("region=" in s for s in segments)
    # one segment selected instead of "All" (= the whole rollout): only that segment's series
    one = prom.query(
        render.expand(named("error_rate"), {"rollout": CANARY, "segment": segments[0]})
    )
    assert [s["metric"].get("segment") for s in one["data"]["result"]] == [segments[0]]

    checked, failures = 0, []
    for payload in render.render_all().values():
        for q in render.queries(json.loads(payload)):
            combos = [
                {"rollout": r, "segment": WHOLE_ROLLOUT, "signal": s, "datasource": "x"}
                for r in (CANARY, SHADOW)
                for s in (signals[r] if "$signal" in q.expr else ["-"])
            ]
            replies = [(v, prom.query(render.expand(q.expr, v))) for v in combos]
            errors = [r for _, r in replies if r.get("status") != "success"]
            if errors:
                failures.append(f"{q.dashboard} / {q.panel} / {q.ref}: error {errors[0]}")
                continue
            with_data = [v for v, r in replies if _finite(r)]
            per_signal_value = q.ref == "A" and "$signal" in q.expr
            if per_signal_value:
                missing = [v for v, r in replies if not _finite(r)]
                if missing:
                    failures.append(f"{q.dashboard} / {q.panel}: no data for {missing}")
            elif not with_data:
                failures.append(f"{q.dashboard} / {q.panel} / {q.ref}: no data: {q.expr}")
            checked += 1
    assert failures == []
    assert checked >= 45


def test_decisions_reach_annotations_and_alerts(stack: Prometheus) -> None:
    prom = stack
    info = prom.query(
        render.expand(
            'rollguard_last_decision_info{rollout=~"$rollout"} * 1000', {"rollout": CANARY}
        )
    )
    (sample,) = info["data"]["result"]  # one series per rollout: its last decision
    assert sample["metric"]["action"] == "rollback"
    assert sample["metric"]["rule"] == "canary-p99-latency"
    reason = sample["metric"]["reason"]  # the reason's headline, in the operator's words
    assert reason.startswith("canary p99 latency ") and reason.endswith("→ rollback")
    shadow = prom.query(f'rollguard_last_decision_info{{rollout="{SHADOW}"}}')["data"]["result"]
    assert [(x["metric"]["action"], x["metric"]["advisory"]) for x in shadow] == [
        ("freeze", "true")  # dry-run plan: advisory, so no RollguardRollout* alert for it
    ]
    from dashboards.overview import STOPPED

    assert prom.scalar(STOPPED) == 1  # the rolled-back canary (the shadow's freeze is advice)
    alerts = prom.query('ALERTS{alertname="RollguardRolloutRolledBack", alertstate="firing"}')
    assert [a["metric"]["rollout"] for a in alerts["data"]["result"]] == [CANARY]
    dlq = prom.query("sum by (reason) (rollguard_dlq_total)")["data"]["result"]
    assert sum(float(s["value"][1]) for s in dlq) == 3


def test_preview_draws_every_panel_with_data(stack: Prometheus, tmp_path: Path) -> None:
    """``rollguard dashboards preview`` against the same Prometheus: every panel drawn with
    the data Grafana would show for the rolled-back canary."""
    from dashboards.preview import write_previews
    from dashboards.prom import Prometheus as Api

    paths, reports = write_previews(
        Api(stack.url), tmp_path, rollout=CANARY, signal="latency_p99_ms", range_s=600
    )
    assert sorted(p.name for p in paths) == [
        "fleet-health.png",
        "rollout-detail.png",
        "rollouts-overview.png",
    ]
    for path in paths:
        png = path.read_bytes()
        assert png.startswith(b"\x89PNG") and int.from_bytes(png[16:20], "big") > 1400
    assert len(reports) >= 30
    shadow_panels = [
        "Rollout detail / Shadow match rate",
        "Rollout detail / Shadow price deviation (bps)",
    ]
    # the canary's plan has no shadow path: only its two shadow panels are empty
    assert [f"{r.dashboard} / {r.title}" for r in reports if r.series == 0] == shadow_panels
    signal_panel = next(r for r in reports if r.title.startswith("latency_p99_ms  (one per"))
    assert signal_panel.series >= 2  # canary and baseline (and the rule's threshold)
    _, shadow = write_previews(Api(stack.url), tmp_path / "shadow", rollout=SHADOW, range_s=600)
    drawn = {f"{r.dashboard} / {r.title}": r.series for r in shadow}
    assert all(drawn[title] > 0 for title in shadow_panels)
