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
from monitor.orchestrators.reader import read_topic
from tests.integration.orchestrator.support import (
    Harness,
    drain,
    produce,
    publish_status,
    tamper,
    worker_command,
)
from tests.keys import BO, OPERATOR, RING, key_env, key_file
from tests.secrets import assert_clean
from topics.codec import Decoder
from topics.commands import encode_command
from topics.config import TopicsConfig
from topics.control_plane import ControlPlaneGate
from topics.events import Plan, Signoff

ROOT = Path(__file__).resolve().parents[3]


def _env(bootstrap: str, topics: TopicsConfig, keys: Path) -> dict[str, str]:
    """The CLI's environment: ana's operator key, the trusted ring (and a worker key)."""
    prefix = topics.control.removesuffix(".control")
    return {"ROLLGUARD_BOOTSTRAP": bootstrap, "ROLLGUARD_TOPIC_PREFIX": prefix, **key_env(keys)}


def _telemetry(bootstrap: str, topics: TopicsConfig) -> list[object]:
    decoder = Decoder()
    return [
        e for m in read_topic(bootstrap, topics.telemetry) for e in decoder.decode(m.value).events
    ]


def test_kill_reaches_the_control_topic_and_the_client_with_no_worker(
    bootstrap: str, topics_config: TopicsConfig, tmp_path: Path
) -> None:
    # No worker process runs: the path is CLI → Kafka → client. A worker that owned the
    # rollout before it went down published its status, which the kill is checked against.
    publish_status(bootstrap, topics_config, "payments-router")
    env = {**os.environ, **_env(bootstrap, topics_config, tmp_path / "keys")}
    done = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "kill", "payments-router", "--by", "ana",
         "--reason", "P&L limit breached"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "HALT published" in done.stdout
    assert_clean(done.stdout + done.stderr, "kill output")

    harness = Harness(bootstrap, topics_config, tmp_path / "state.sqlite")
    with harness.client() as client:
        drain(client, lambda o: len(o) >= 1)
    [halt] = harness.handled
    assert (halt.action, halt.rollout_id, halt.issuer) == (
        "halt",
        "payments-router",
        "operator:ana",
    )
    assert halt.reason == "P&L limit breached" and halt.key_id == OPERATOR.key_id

    plans = [e for e in _telemetry(bootstrap, topics_config) if isinstance(e, Plan)]
    assert [(p.rollout_id, p.action) for p in plans] == [("payments-router", "aborted")]
    # signed by the same operator: workers count it
    [message] = [m.value for m in read_topic(bootstrap, topics_config.telemetry)]
    screen = ControlPlaneGate(RING).screen(message)
    assert screen is not None and screen.refused == []


def test_kill_all_and_resume(bootstrap: str, topics_config: TopicsConfig, tmp_path: Path) -> None:
    produce(
        bootstrap,
        topics_config.control,
        [encode_command(worker_command("r1", seq=1)), encode_command(worker_command("r2", seq=1))],
    )
    runner = CliRunner()
    env = _env(bootstrap, topics_config, tmp_path / "keys")
    publish_status(bootstrap, topics_config, "r1")
    killed = runner.invoke(app, ["kill", "--all", "--by", "ana"], env=env)
    assert killed.exit_code == 0, killed.output
    as_bo = env | {"ROLLGUARD_OPERATOR_KEY_FILE": str(key_file(tmp_path / "keys", BO))}
    impostor = runner.invoke(app, ["resume", "r1", "--by", "bo"], env=env)  # ana's key
    assert impostor.exit_code == 2 and "belongs to 'ana'" in impostor.output
    resumed = runner.invoke(app, ["resume", "r1", "--by", "bo", "--reason", "fixed"], env=as_bo)
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
    bootstrap: str, topics_config: TopicsConfig, tmp_path: Path
) -> None:
    runner = CliRunner()
    env = _env(bootstrap, topics_config, tmp_path / "keys")
    no_keys = runner.invoke(app, ["kill", "r1"], env=env | {"ROLLGUARD_OPERATOR_KEY_FILE": ""})
    assert no_keys.exit_code == 2 and "no operator key" in no_keys.output
    worker_key = env["ROLLGUARD_SIGNING_KEY_FILE"]  # a worker key may not kill
    as_worker = runner.invoke(
        app, ["kill", "r1"], env=env | {"ROLLGUARD_OPERATOR_KEY_FILE": worker_key}
    )
    assert as_worker.exit_code == 2 and "where an operator key is needed" in as_worker.output
    no_target = runner.invoke(app, ["kill"], env=env)
    assert no_target.exit_code == 2 and "--all" in no_target.output
    bad_id = runner.invoke(app, ["kill", "r 1"], env=env)
    assert bad_id.exit_code == 2
    assert list(read_topic(bootstrap, topics_config.control)) == []


def test_signoff_tail_and_export(
    bootstrap: str, topics_config: TopicsConfig, tmp_path: Path
) -> None:
    runner = CliRunner()
    env = _env(bootstrap, topics_config, tmp_path / "keys")
    from tests.keys import WORKER
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
        WORKER,
    )  # fmt: skip
    forged = tamper(worker_command("r1", "promote", seq=4, issued_at=now - 10), reason="trust me")
    other = worker_command("r2", action="halt", seq=1)
    produce(
        bootstrap,
        topics_config.control,
        [encode_command(c) for c in (with_evidence, good, forged, other)] + [b"garbage"],
    )
    publish_status(bootstrap, topics_config, "r1")
    signed = runner.invoke(
        app, ["signoff", "--rollout", "r1", "--stage", "canary-5", "--role", "cto"], env=env
    )
    assert signed.exit_code == 0, signed.output
    bad = runner.invoke(
        app, ["signoff", "--rollout", "r1", "--stage", "s", "--role", "c t o"], env=env
    )
    assert bad.exit_code == 2 and "invalid sign-off" in bad.output
    not_hers = runner.invoke(
        app, ["signoff", "--rollout", "r1", "--stage", "s", "--role", "compliance"], env=env
    )
    assert not_hers.exit_code == 2 and "workers would refuse this sign-off" in not_hers.output
    as_other = runner.invoke(
        app,
        ["signoff", "--rollout", "r1", "--stage", "s", "--role", "cto", "--by", "Jane"],
        env=env,
    )
    assert as_other.exit_code == 2 and "belongs to 'ana'" in as_other.output
    [signoff] = [e for e in _telemetry(bootstrap, topics_config) if isinstance(e, Signoff)]
    assert (signoff.role, signoff.by, signoff.stage) == ("cto", "ana", "canary-5")
    assert signoff.key_id == OPERATOR.key_id

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
    broken = tmp_path / "broken-ring.json"
    broken.write_text('{"keys": [')
    loud = runner.invoke(
        app,
        ["tail", "--from-beginning", "--no-follow", "--json"],
        env=env | {"ROLLGUARD_TRUSTED_KEYS_FILE": str(broken)},
    )
    assert loud.exit_code == 2 and "trusted keys" in loud.output and "not valid" in loud.output
    unverified = runner.invoke(
        app,
        ["tail", "--from-beginning", "--no-follow", "--json"],
        env=env | {"ROLLGUARD_TRUSTED_KEYS_FILE": ""},
    )
    assert unverified.exit_code == 0 and "NOT verified" in unverified.output

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
    assert signoff_row["by"] == "ana" and signoff_row["role"] == "cto"
    assert signoff_row["verification"] == "ok"
    assert (out / "plans" / "plan.yaml").read_text() == plan.read_text()
    everything = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    assert_clean(everything, "evidence pack")
    for result in (signed, bad, not_hers, as_other, tailed, human, loud, unverified, exported):
        assert_clean(result.output, "CLI output")


@pytest.mark.timeout(60)  # reading the child's stdout blocks; never hang the suite
def test_example_orchestrator_obeys_a_kill(
    bootstrap: str, topics_config: TopicsConfig, tmp_path: Path
) -> None:
    env = {**os.environ, **_env(bootstrap, topics_config, tmp_path / "keys")}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "orchestrator.py"), "--bootstrap", bootstrap,
         "--topic", topics_config.control, "--state", str(tmp_path / "example.sqlite")],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    publish_status(bootstrap, topics_config, "payments-router")
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


def test_operator_commands_refuse_what_the_fleet_does_not_know(
    bootstrap: str, topics_config: TopicsConfig, tmp_path: Path
) -> None:
    runner = CliRunner()
    env = _env(bootstrap, topics_config, tmp_path / "keys")
    # the rollout's plan (from its status): canary-5 needs the COO, full needs CTO and COO
    stages = {"canary-5": ["coo"], "full": ["cto", "coo"]}
    publish_status(bootstrap, topics_config, "bridge-v2-rollout", stages)
    typo = runner.invoke(app, ["kill", "bridge-v2-rolout", "--by", "ana"], env=env)
    assert typo.exit_code == 1, typo.output
    assert "unknown rollout 'bridge-v2-rolout'" in _flat(typo.output)
    assert "did you mean 'bridge-v2-rollout'" in _flat(typo.output)
    resume = runner.invoke(app, ["resume", "nope", "--by", "ana"], env=env)
    assert resume.exit_code == 1 and "unknown rollout 'nope'" in _flat(resume.output)
    # ana may sign off as cto (her key's roles), but canary-5 does not ask for a cto
    role = runner.invoke(
        app,
        ["signoff", "--rollout", "bridge-v2-rollout", "--stage", "canary-5", "--role", "cto"],
        env=env,
    )
    assert role.exit_code == 1, role.output
    assert "needs no sign-off from 'cto' (it asks for: coo)" in _flat(role.output)
    stage = runner.invoke(
        app,
        ["signoff", "--rollout", "bridge-v2-rollout", "--stage", "canary-50", "--role", "cto"],
        env=env,
    )
    assert stage.exit_code == 1 and "did you mean 'canary-5'" in _flat(stage.output)
    export = runner.invoke(app, ["export", "--rollout", "nope", "--out", "/nonexistent"], env=env)
    assert export.exit_code == 1 and "unknown rollout 'nope'" in _flat(export.output)
    assert list(read_topic(bootstrap, topics_config.control)) == []  # nothing published
    assert _telemetry(bootstrap, topics_config) == []
    fine = runner.invoke(
        app,
        ["signoff", "--rollout", "bridge-v2-rollout", "--stage", "full", "--role", "cto"],
        env=env,
    )
    assert fine.exit_code == 0, fine.output
    forced = runner.invoke(app, ["kill", "bridge-v2-rolout", "--by", "ana", "--force"], env=env)
    assert forced.exit_code == 0 and "HALT published" in forced.output


def _flat(text: str) -> str:
    """The terminal wraps long errors; compare their words."""
    return " ".join(text.split())
