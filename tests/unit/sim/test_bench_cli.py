"""``rollguard bench detection``: the seeds it runs are the ones asked for."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from monitor.cli import app


def test_first_seed_runs_the_seeds_after_it(tmp_path: Path) -> None:
    out = tmp_path / "runs.json"
    args = ["bench", "detection", "--seeds", "2", "--first-seed", "21", "--jobs", "1"]
    args += ["-s", "feed_silent", "--decisions", str(out), "--plot", str(tmp_path / "p.png")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert [(r["scenario"], r["seed"]) for r in json.loads(out.read_text())] == [
        ("feed_silent", 21),
        ("feed_silent", 22),
    ]
