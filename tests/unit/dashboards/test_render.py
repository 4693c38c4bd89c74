"""Rendering is deterministic and the committed JSON is what the code renders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from dashboards import render
from monitor.cli import app

ROOT = Path(__file__).resolve().parents[3]


def test_committed_json_is_fresh() -> None:
    assert render.stale() == [], "run `rollguard dashboards render` and commit the JSON"


def test_byte_identical_across_processes(tmp_path: Path) -> None:
    """Two fresh interpreters with different hash seeds write the same bytes."""
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / seed
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run(
            [sys.executable, "-m", "monitor", "dashboards", "render", "--out", str(out)],
            check=True,
            cwd=ROOT,
            env=env,
            capture_output=True,
            timeout=60,
        )
        outputs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outputs[0] == outputs[1]
    assert outputs[0] == render.render_all()
    assert sorted(outputs[0]) == [
        "fleet-health.json",
        "rollout-detail.json",
        "rollouts-overview.json",
    ]


def test_check_flags_a_stale_file(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["dashboards", "render", "--out", str(tmp_path)]).exit_code == 0
    ok = runner.invoke(app, ["dashboards", "render", "--out", str(tmp_path), "--check"])
    assert ok.exit_code == 0, ok.output
    path = tmp_path / "fleet-health.json"
    data = json.loads(path.read_text())
    data["title"] = "edited by hand"
    path.write_text(json.dumps(data))
    stale = runner.invoke(app, ["dashboards", "render", "--out", str(tmp_path), "--check"])
    assert stale.exit_code == 1
    assert "fleet-health.json" in stale.output


def test_every_panel_has_queries_and_titles() -> None:
    for name, payload in render.render_all().items():
        data = json.loads(payload)
        queries = list(render.queries(data))
        assert queries, name
        assert all(q.expr.strip() and q.panel for q in queries)
    detail = json.loads(render.render_all()["rollout-detail.json"])
    exprs = " ".join(q.expr for q in render.queries(detail))
    for signal in (
        "shadow_match_rate",
        "shadow_price_dev_bps",
        "status_mismatches",
        "pnl_cum",
        "drawdown",
    ):
        assert f'signal="{signal}"' in exprs


def test_preview_without_a_prometheus_is_one_clear_error(tmp_path: Path) -> None:
    """The preview draws data (tests/integration/ops draws it from a real Prometheus)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    result = CliRunner().invoke(
        app, ["dashboards", "preview", "--prometheus-url", dead, "--out", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert f"error: cannot query Prometheus at {dead}" in result.output
