"""Human controls against a real broker, with no worker running at all: ``kill`` / ``resume``
reach the control topic and a verifying client; ``signoff``, ``tail`` and ``export``."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from monitor.cli import app
from monitor.client.reader import read_topic
from tests.integration.orchestrator.support import (
    OPERATOR_KEYS_ENV,
    OPERATOR_SECRET,
    WORKER_SECRET,
    Harness,
    drain,
    produce,
    tamper,
    worker_command,
)
from topics.codec import Decoder
from topics.commands import encode_command
from topics.config import TopicsConfig
from topics.events import Plan, Signoff

ROOT = Path(__file__).resolve().parents[3]


def _env(bootstrap: str, topics: TopicsConfig) -> dict[str, str]:
    prefix = topics.control.removesuffix(".control")
    return {
        "ROLLGUARD_BOOTSTRAP": bootstrap,
        "ROLLGUARD_TOPIC_PREFIX": prefix,
        "ROLLGUARD_OPERATOR_KEYS": OPERATOR_KEYS_ENV,
        "ROLLGUARD_SIGNING_KEYS": "w1=" + WORKER_SECRET.decode(),
    }


def _telemetry(bootstrap: str, topics: TopicsConfig) -> list[object]:
    decoder = Decoder()
    return [
        e for m in read_topic(bootstrap, topics.telemetry) for e in decoder.decode(m.value).events
    ]


def test_kill_reaches_the_control_topic_and_the_client_with_no_worker(
    bootstrap: str, topics_config: TopicsConfig, tmp_path: Path
) -> None:
    # No worker process exists in this test session's topics: the path is CLI → Kafka → client.
    env = {**os.environ, **_env(bootstrap, topics_config)}
    done = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "kill", "payments-router", "--by", "ana",
         "--reason", "P&L limit breached"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "HALT published" in done.stdout
    assert OPERATOR_SECRET.decode() not in done.stdout + done.stderr

    harness = Harness(bootstrap, topics_config, tmp_path / "state.sqlite")
    with harness.client() as client:
        drain(client, lambda o: len(o) >= 1)
    [halt] = harness.handled
    assert (halt.action, halt.rollout_id, halt.issuer) == (
        "halt",
        "payments-router",
        "operator:ana",
    )
    assert halt.reason == "P&L limit breached" and halt.key_id == "op1"

    plans = [e for e in _telemetry(bootstrap, topics_config) if isinstance(e, Plan)]
    assert [(p.rollout_id, p.action) for p in plans] == [("payments-router", "aborted")]


def test_kill_all_and_resume(bootstrap: str, topics_config: TopicsConfig, tmp_path: Path) -> None:
    produce(
        bootstrap,
        topics_config.control,
        [encode_command(worker_command("r1", seq=1)), encode_command(worker_command("r2", seq=1))],
    )
    runner = CliRunner()
    env = _env(bootstrap, topics_config)
    killed = runner.invoke(app, ["kill", "--all", "--by", "ana"], env=env)
    assert killed.exit_code == 0, killed.output
    resumed = runner.invoke(app, ["resume", "r1", "--by", "bo", "--reason", "fixed"], env=env)
    assert resumed.exit_code == 0, resumed.output

    harness = Harness(bootstrap, topics_config, tmp_path / "state.sqlite")
    with harness.client() as client:
        drain(client, lambda o: len(o) >= 4)
    got = sorted((c.rollout_id, c.action, c.issuer) for c in harness.handled)
    assert got == [
        ("*", "halt", "operator:ana"),
        ("r1", "pause", "worker"),
        ("r1", "resume", "operator:bo"),
        ("r2", "pause", "worker"),
    ]
    plans = sorted(
        (e.rollout_id, e.action)
        for e in _telemetry(bootstrap, topics_config)
        if isinstance(e, Plan)
    )
    assert plans == [("r1", "aborted"), ("r1", "resumed"), ("r2", "aborted")]


def test_kill_refuses_without_operator_keys_or_target(
    bootstrap: str, topics_config: TopicsConfig
) -> None:
    runner = CliRunner()
    env = _env(bootstrap, topics_config) | {"ROLLGUARD_OPERATOR_KEYS": ""}
    no_keys = runner.invoke(app, ["kill", "r1"], env=env)
    assert no_keys.exit_code == 2 and "no operator key" in no_keys.output
    no_target = runner.invoke(app, ["kill"], env=_env(bootstrap, topics_config))
    assert no_target.exit_code == 2 and "--all" in no_target.output
    bad_id = runner.invoke(app, ["kill", "r 1"], env=_env(bootstrap, topics_config))
    assert bad_id.exit_code == 2
    assert list(read_topic(bootstrap, topics_config.control)) == []


def test_signoff_tail_and_export(
    bootstrap: str, topics_config: TopicsConfig, tmp_path: Path
) -> None:
    runner = CliRunner()
    env = _env(bootstrap, topics_config)
    from topics.commands import Evidence, sign

    now = time.time()
    good = worker_command("r1", action="rollback", seq=3, issued_at=now - 20)

    with_evidence = sign(
        tamper(
            worker_command("r1", action="pause", seq=2, issued_at=now - 30),
            evidence=[
                Evidence(rule="errors", signal="error_rate", variant="canary", observed=0.05,
                         threshold=0.02, window_s=300, stats={"p_value": 0.001}),
                Evidence(rule="=cmd()", signal="p99_latency_ms", variant="canary", observed=900),
            ],
        ),
        "w1",
        WORKER_SECRET,
    )  # fmt: skip
    forged = tamper(worker_command("r1", "promote", seq=4, issued_at=now - 10), reason="trust me")
    other = worker_command("r2", action="halt", seq=1)
    produce(
        bootstrap,
        topics_config.control,
        [encode_command(c) for c in (with_evidence, good, forged, other)] + [b"garbage"],
    )
    signed = runner.invoke(
        app,
        ["signoff", "--rollout", "r1", "--stage", "canary-5", "--role", "cto", "--by", "Jane Doe"],
        env=env,
    )
    assert signed.exit_code == 0, signed.output
    bad = runner.invoke(
        app, ["signoff", "--rollout", "r1", "--stage", "s", "--role", "c t o", "--by", "x"], env=env
    )
    assert bad.exit_code == 2 and "invalid sign-off" in bad.output
    [signoff] = [e for e in _telemetry(bootstrap, topics_config) if isinstance(e, Signoff)]
    assert (signoff.role, signoff.by, signoff.stage) == ("cto", "Jane Doe", "canary-5")

    tailed = runner.invoke(
        app, ["tail", "--from-beginning", "--no-follow", "--json", "--rollout", "r1"], env=env
    )
    assert tailed.exit_code == 0, tailed.output
    lines = [json.loads(line) for line in tailed.output.splitlines()]
    assert [line["status"] for line in lines] == [
        "ok:worker",
        "ok:worker",
        "bad_signature",
        "malformed",
    ]
    human = runner.invoke(app, ["tail", "--from-beginning", "--no-follow"], env=env)
    assert human.exit_code == 0 and "ROLLBACK" in human.output and "bad_signature" in human.output

    plan = tmp_path / "plan.yaml"
    plan.write_text("rollout: r1\nstages: [canary-5]\n")
    out = tmp_path / "pack"
    exported = runner.invoke(
        app, ["export", "--rollout", "r1", "--out", str(out), "--plan", str(plan)], env=env
    )
    assert exported.exit_code == 0, exported.output
    records = [orjson.loads(line) for line in (out / "evidence.jsonl").read_bytes().splitlines()]
    manifest = records[0]
    assert manifest["record"] == "manifest" and manifest["decisions"] == 3
    assert manifest["signoffs"] == 1 and manifest["unverified_decisions"] == 1
    assert (
        manifest["rule_set_versions"] == ["rs1"] and manifest["undecodable_control_messages"] == 1
    )
    assert [r["record"] for r in records[1:]] == [
        "plan_file",
        "decision",
        "decision",
        "decision",
        "signoff",
    ]
    assert [r["verification"] for r in records[2:5]] == ["ok:worker", "ok:worker", "bad_signature"]
    with (out / "decisions.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["action"], r["evidence_rule"]) for r in rows] == [
        ("pause", "errors"), ("pause", "'=cmd()"), ("rollback", ""), ("promote", ""),
    ]  # fmt: skip
    assert rows[0]["observed"] == "0.05" and json.loads(rows[0]["stats"]) == {"p_value": 0.001}
    with (out / "signoffs.csv").open() as f:
        [signoff_row] = list(csv.DictReader(f))
    assert signoff_row["by"] == "Jane Doe" and signoff_row["role"] == "cto"
    assert (out / "plans" / "plan.yaml").read_text() == plan.read_text()
    everything = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    assert WORKER_SECRET not in everything and OPERATOR_SECRET not in everything


@pytest.mark.timeout(60)  # reading the child's stdout blocks; never hang the suite
def test_example_orchestrator_obeys_a_kill(
    bootstrap: str, topics_config: TopicsConfig, tmp_path: Path
) -> None:
    env = {**os.environ, **_env(bootstrap, topics_config)}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "orchestrator.py"), "--bootstrap", bootstrap,
         "--topic", topics_config.control, "--state", str(tmp_path / "example.sqlite")],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        killed = CliRunner().invoke(app, ["kill", "payments-router", "--by", "ana"], env=env)
        assert killed.exit_code == 0, killed.output
        deadline = time.monotonic() + 30
        assert proc.stdout is not None
        for line in proc.stdout:
            if "would HALT for rollout payments-router" in line:
                break
            assert time.monotonic() < deadline
        else:
            raise AssertionError("the example orchestrator never acted on the kill")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert proc.returncode == 0  # SIGTERM: clean shutdown
