"""`rollguard replay`: deterministic decisions file, DLQ accounting, timeline and report."""

from __future__ import annotations

import base64
import gzip
import shutil
from pathlib import Path

import msgspec
from typer.testing import CliRunner

from monitor.cli import app
from monitor.core import Core, load_plans
from monitor.core.replay import replay
from topics.commands import Command

SAMPLE = Path("examples/events/sample.jsonl.gz")
PLANS = ["-p", "examples/plans", "-p", "examples/rules"]


def test_replay_cli_is_deterministic_and_writes_report(tmp_path: Path) -> None:
    runner = CliRunner()
    outs = []
    for i in range(2):
        decisions = tmp_path / f"d{i}.jsonl"
        args = ["replay", str(SAMPLE), *PLANS, "--decisions", str(decisions)]
        args += ["--report", str(tmp_path / "r.html")] if i == 0 else ["--no-report"]
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
        outs.append(decisions.read_bytes())
    assert outs[0] == outs[1] and outs[0]
    cmds = [msgspec.json.decode(line, type=Command) for line in outs[0].splitlines()]
    # the canary at 5 % sends under the windowed error test's 200 orders a minute: the
    # regression is stopped by the latency rollback (the error rules are still pending)
    assert [c.action for c in cmds] == ["promote", "rollback"]
    assert [c.seq for c in cmds] == [0, 1]
    html = (tmp_path / "r.html").read_text()
    # the verdict first, then the deciding rule's chart, the other active rules, the
    # healthy ones folded
    verdict = html.index("<p class='verdict'>Rolled back at 2026-01-01 00:22:09 UTC")
    assert verdict < html.index("<img class='deciding' alt='bridge-v2-rollout: canary-p99-")
    assert html.index("<img class='deciding'") < html.index("<details><summary>Healthy rules")
    png = base64.b64decode(html.split("data:image/png;base64,")[1].split("'")[0])
    assert png.startswith(b"\x89PNG") and png[16:24] == (1320).to_bytes(4, "big") + (460).to_bytes(
        4, "big"
    )  # the deciding chart, large
    assert "canary p99 latency 42.6 ms vs baseline 20.9 ms (+104 %, limit +30 %)" in html
    assert "rollback" in res.output and "canary-5" in res.output


def test_bad_lines_are_counted_never_fatal(tmp_path: Path) -> None:
    src = tmp_path / "events.jsonl"
    with gzip.open(SAMPLE, "rb") as fh, src.open("wb") as out:
        shutil.copyfileobj(fh, out)
        out.write(b'not json\n{"kind":"order","v":2}\n\n[1,2]\n')
    plans = load_plans(["examples/plans/broker-bridge.yaml", "examples/rules/broker-gates.yaml"])
    with src.open("rb") as fh:
        result = replay(fh, Core(plans), record=False)
    assert sum(result.dead.values()) == 3
    assert set(result.dead) == {"not_json", "unknown_version", "wrong_type"}
    assert result.events == result.lines - 3
    assert [c.action for c in result.commands] == ["promote", "rollback"]


def test_replay_missing_file_and_bad_plan(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["replay", str(tmp_path / "none.jsonl"), *PLANS])
    assert res.exit_code == 1 and "no such file" in " ".join(res.output.split())
    bad = tmp_path / "bad.yaml"
    bad.write_text("plans: {p: {stages: []}}\n")
    res = runner.invoke(app, ["replay", str(SAMPLE), "-p", str(bad)])
    assert res.exit_code == 1 and "expected a non-empty list" in " ".join(res.output.split())


def test_a_recorded_stream_attaches_a_plan_and_starts_at_a_later_stage(tmp_path: Path) -> None:
    """The README's recipe: a registered event names the plan, a stage_changed event (and
    traffic_share) puts the rollout in a later stage before the recorded events."""
    with gzip.open(SAMPLE, "rb") as fh:
        recorded = [line for line in fh if b'"kind":"plan"' not in line]  # no plan of its own
    first_ts = msgspec.json.decode(recorded[0])["ts"]
    head = [
        {"action": "registered", "plan": "bridge-routing-v2"},
        {"action": "stage_changed", "stage": "canary-20"},
        {"action": "traffic_share", "traffic_pct": 20},
    ]
    lines = [
        msgspec.json.encode(
            {"kind": "plan", "v": 1, "rollout_id": "mine", "variant": "canary", "ts": first_ts}
            | fields
        )
        + b"\n"
        for fields in head
    ]
    events = tmp_path / "mine.jsonl"
    events.write_bytes(b"".join(lines) + b"".join(r.replace(b"bridge-v2-rollout", b"mine")
                                                  for r in recorded))  # fmt: skip
    out = ["--decisions", str(tmp_path / "d.jsonl")]
    res = CliRunner().invoke(app, ["replay", str(events), *PLANS, "--no-report", *out],
                             catch_exceptions=False)  # fmt: skip
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "│ mine │ canary-20 │ stage running (20 %) │" in text and "canary-1 " not in text
    assert "canary-20 │ rollback" in text


def test_replay_leaves_the_garbage_collector_to_the_process() -> None:
    """``replay()`` is a library function: it must not switch the process's collector off
    (``rollguard replay`` owns its process and freezes the start-up heap instead)."""
    import gc

    lines = gzip.decompress(SAMPLE.read_bytes()).splitlines()
    core = Core(
        load_plans(["examples/plans/broker-bridge.yaml", "examples/rules/broker-gates.yaml"])
    )
    enabled: list[bool] = []
    assert gc.isenabled()
    result = replay(lines, core, batch_size=64, on_batch=lambda _: enabled.append(gc.isenabled()))
    assert result.commands and enabled and all(enabled)
    assert gc.isenabled()
