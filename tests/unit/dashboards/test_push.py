"""``dashboards push`` and ``GrafanaAnnotator`` against a stand-in Grafana over real HTTP.

What this verifies (and what it cannot): the requests grafana-api-sdk sends for us — paths,
methods, auth header and JSON bodies — match Grafana's documented HTTP API (see the
``grafana`` fixture in conftest.py for the rules checked and their sources), pushing twice
is idempotent, and annotation failures never raise. It does not prove a real Grafana
renders the dashboards: no Grafana server runs on these machines.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from dashboards import render
from dashboards.panels import DATASOURCE_UID
from dashboards.push import PushError, api_model, push
from monitor.operators.annotations import GrafanaAnnotator, annotation_for
from topics.commands import Command, Evidence

from .conftest import TOKEN, FakeGrafana


def _command(**overrides: object) -> Command:
    fields: dict[str, object] = {
        "v": 1,
        "command_id": "c0ffee00c0ffee00",
        "rollout_id": "bridge-routing-v2",
        "stage": "canary-5",
        "action": "rollback",
        "reason": "canary p99 latency 48 ms vs baseline 30 ms (+60 %, limit +30 %) → rollback"
        "\nlatency-p99-vs-baseline: latency_p99_ms of canary = 48 ratio> 39",
        "rule": "latency-p99-vs-baseline",
        "evidence": [
            Evidence(
                rule="latency-p99-vs-baseline",
                signal="latency_p99_ms",
                variant="canary",
                observed=48.0,
                threshold=39.0,
                comparator=">",
            )
        ],
        "issued_at": 1_790_000_000.25,
        "expires_at": 1_790_000_300.0,
    }
    fields.update(overrides)
    return Command(**fields)  # type: ignore[arg-type]


def test_push_creates_folder_datasource_and_dashboards(grafana: FakeGrafana) -> None:
    report = push(api_model(grafana.url, TOKEN), "http://prometheus:9090")

    assert grafana.violations == []
    assert report.folder == "created"
    assert report.datasource == "created"
    assert grafana.folders["rollguard"]["title"] == "rollguard"
    ds = grafana.datasources[DATASOURCE_UID]
    assert (ds["type"], ds["url"], ds["access"]) == (
        "prometheus",
        "http://prometheus:9090",
        "proxy",
    )
    rendered = {json.loads(b)["uid"]: json.loads(b) for b in render.render_all().values()}
    assert set(grafana.dashboards) == set(rendered) == set(report.dashboards)
    for uid, saved in grafana.dashboards.items():
        assert saved["folderUid"] == "rollguard"
        assert saved["dashboard"] == rendered[uid]  # exactly the committed JSON
    order = [(m, p.split("?")[0]) for m, p, _ in grafana.requests]
    assert order[:4] == [
        ("GET", "/api/folders/rollguard"),
        ("POST", "/api/folders"),
        ("GET", f"/api/datasources/uid/{DATASOURCE_UID}"),
        ("POST", "/api/datasources"),
    ]
    assert order[4:] == [("POST", "/api/dashboards/db")] * 3
    assert all(body["overwrite"] is True for _, _, body in grafana.calls("POST", "/api/dashboards"))


def test_push_twice_is_idempotent(grafana: FakeGrafana) -> None:
    model = api_model(grafana.url, TOKEN)
    push(model, "http://prometheus:9090")
    second = push(model, "http://prometheus:9090")

    assert grafana.violations == []
    assert (second.folder, second.datasource) == ("unchanged", "unchanged")
    assert len(grafana.calls("POST", "/api/folders")) == 1
    assert len(grafana.calls("POST", "/api/datasources")) == 1
    assert len(grafana.dashboards) == 3
    assert {d["version"] for d in grafana.dashboards.values()} == {2}


def test_push_updates_a_changed_datasource_and_folder_title(grafana: FakeGrafana) -> None:
    model = api_model(grafana.url, TOKEN)
    push(model, "http://prometheus:9090")
    grafana.folders["rollguard"]["title"] = "renamed by hand"
    report = push(model, "http://prom.internal:9090")

    assert grafana.violations == []
    assert (report.folder, report.datasource) == ("updated", "updated")
    assert grafana.folders["rollguard"]["title"] == "rollguard"
    assert grafana.datasources[DATASOURCE_UID]["url"] == "http://prom.internal:9090"
    assert len(grafana.calls("PUT", f"/api/datasources/uid/{DATASOURCE_UID}")) == 1


def test_push_with_basic_auth_via_cli(grafana: FakeGrafana) -> None:
    from monitor.cli import app

    result = CliRunner().invoke(
        app,
        [
            "dashboards",
            "push",
            "--grafana-url",
            grafana.url,
            "--user",
            "admin",
            "--password",
            "secret",
            "--prometheus-url",
            "http://prometheus:9090",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "dashboard rollguard-rollout-detail: saved" in result.output
    assert grafana.violations == []
    assert len(grafana.dashboards) == 3


def test_push_reports_a_refusal(grafana: FakeGrafana) -> None:
    # a datasource of the same name under another uid: Grafana answers 409
    grafana.datasources["other"] = {
        "id": 7,
        "uid": "other",
        "name": "rollguard-prometheus",
        "type": "prometheus",
        "access": "proxy",
        "url": "x",
    }
    with pytest.raises(PushError, match="same name already exists"):
        push(api_model(grafana.url, TOKEN), "http://prometheus:9090")
    assert grafana.dashboards == {}


def test_annotator_posts_decision_with_tags_and_reason(grafana: FakeGrafana) -> None:
    annotator = GrafanaAnnotator(grafana.url, TOKEN)
    annotator.post(_command())
    annotator.post(_command(action="pause", advisory=True, rule=None, evidence=[]))

    assert grafana.violations == []
    assert annotator.posted == 2 and annotator.failures == 0
    first, second = grafana.annotations
    assert first["time"] == first["timeEnd"] == 1_790_000_000_250
    assert first["tags"] == ["rollguard", "rollout:bridge-routing-v2", "action:rollback"]
    assert first["text"].splitlines() == [  # title, headline, rule, statistics
        "ROLLBACK bridge-routing-v2 (stage canary-5)",
        "canary p99 latency 48 ms vs baseline 30 ms (+60 %, limit +30 %) → rollback",
        "rule: latency-p99-vs-baseline",
        "latency-p99-vs-baseline: latency_p99_ms of canary = 48 ratio> 39",
    ]
    assert "dashboardUID" not in first  # organisation annotation, matched by tags
    assert second["tags"][-1] == "advisory"


def test_annotator_async_and_failures_never_raise(grafana: FakeGrafana) -> None:
    annotator = GrafanaAnnotator(grafana.url, TOKEN, dashboard_uid="rollguard-rollout-detail")
    asyncio.run(annotator.apost(_command()))
    assert grafana.annotations[0]["dashboardUID"] == "rollguard-rollout-detail"
    grafana.fail_annotations = True
    asyncio.run(annotator.apost(_command()))
    down = GrafanaAnnotator("http://127.0.0.1:9", TOKEN, timeout_s=1.0)  # nothing listens
    down.post(_command())
    assert (annotator.posted, annotator.failures, down.failures) == (1, 1, 1)


def test_annotation_object_matches_the_sdk_model() -> None:
    ann = annotation_for(_command(stage="shadow", action="hold"))
    assert (ann.time, ann.time_end) == (1_790_000_000_250, 1_790_000_000_250)
    assert ann.text.splitlines()[0] == "HOLD bridge-routing-v2 (stage shadow)"
    with pytest.raises(ValueError, match="http"):
        GrafanaAnnotator("grafana:3000", TOKEN)
    with pytest.raises(ValueError, match="token"):
        GrafanaAnnotator("http://grafana:3000")
    GrafanaAnnotator("http://grafana:3000", user="admin", password="secret")  # basic auth is fine


def test_annotator_with_basic_auth(grafana: FakeGrafana) -> None:
    GrafanaAnnotator(grafana.url, user="admin", password="secret").post(_command())
    assert grafana.violations == []
    assert len(grafana.annotations) == 1
