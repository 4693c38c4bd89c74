"""Wrong input and unreachable brokers: one clear line on stderr, a non-zero exit, at once.

Each case runs the real command in a subprocess (its exit code and stderr as a user sees
them). A broker is "unreachable" on a loopback port nothing listens on.
"""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from topics.events import Plan

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "examples" / "events" / "sample.jsonl.gz"
EXAMPLES = ["-p", str(ROOT / "examples" / "plans"), "-p", str(ROOT / "examples" / "rules")]


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str, float]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "80", **(env or {})},
        check=False,
    )
    return proc.returncode, proc.stderr, time.monotonic() - started


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and "Traceback" not in stderr
    return lines[0]


def events_file(tmp_path: Path, *events: Plan) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(msgspec.json.encode(e) + b"\n" for e in events))
    return path


def registered(rollout_id: str, plan: str) -> Plan:
    return Plan(
        v=1, rollout_id=rollout_id, variant="canary", ts=1.7e9, action="registered", plan=plan
    )


@pytest.fixture
def dead_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"127.0.0.1:{port}"  # closed again: connections are refused


def test_replay_of_a_missing_events_file(tmp_path: Path) -> None:
    rc, err, _ = run("replay", str(tmp_path / "nope.jsonl"), *EXAMPLES, cwd=tmp_path)
    assert rc == 1 and "nope.jsonl: no such file" in one_error_line(err)


def test_replay_with_a_missing_plan_file(tmp_path: Path) -> None:
    rc, err, _ = run("replay", str(SAMPLE), "-p", "missing.yaml", cwd=tmp_path)
    assert rc == 1 and "missing.yaml: no such plan or rule file" in one_error_line(err)


def test_replay_with_a_directory_without_plans(tmp_path: Path) -> None:
    (tmp_path / "plans").mkdir()
    rc, err, _ = run("replay", str(SAMPLE), "-p", "plans", cwd=tmp_path)
    assert rc == 1 and "plans: no plan or rule files" in one_error_line(err)


def test_replay_with_an_empty_plan_file(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("")
    rc, err, _ = run("replay", str(SAMPLE), "-p", "empty.yaml", cwd=tmp_path)
    assert rc == 1 and "empty.yaml:1: empty document" in one_error_line(err)


def test_replay_of_a_stream_whose_plan_is_not_loaded(tmp_path: Path) -> None:
    """The sample's rollout registers plan bridge-routing-v2; only the rules are given."""
    rules = str(ROOT / "examples" / "rules")
    rc, err, _ = run("replay", str(SAMPLE), "-p", rules, "--no-report", cwd=tmp_path)
    line = one_error_line(err)
    assert rc == 1
    assert "1 rollout(s) without a plan" in line
    assert "bridge-v2-rollout (plan 'bridge-routing-v2' is not loaded)" in line
    assert (tmp_path / "sample.decisions.jsonl").exists()  # outputs written: nothing lost


def test_replay_of_a_misspelt_plan_name_suggests_the_right_one(tmp_path: Path) -> None:
    events = events_file(tmp_path, registered("r1", "bridge-routing-v3"))
    rc, err, _ = run("replay", str(events), *EXAMPLES, "--no-report", cwd=tmp_path)
    line = one_error_line(err)
    assert rc == 1
    assert "r1 (plan 'bridge-routing-v3' is not loaded; did you mean 'bridge-routing-v2'?)" in line


def test_replay_of_rollouts_never_registered(tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl.gz"
    order = b'{"v":1,"kind":"metric","rollout_id":"r9","variant":"canary","ts":1.7e9,'
    with gzip.open(path, "wb") as fh:
        fh.write(order + b'"name":"x","value":1.0}\n')
    rc, err, _ = run("replay", str(path), *EXAMPLES, "--no-report", cwd=tmp_path)
    assert rc == 1 and "r9 (no `registered` plan event)" in one_error_line(err)
    # the same stream with a default plan replays
    rc, err, _ = run(
        "replay", str(path), *EXAMPLES, "--no-report", "--default-plan", "bridge-routing-v2",
        cwd=tmp_path,
    )  # fmt: skip
    assert rc == 0, err


def test_replay_of_an_empty_stream(tmp_path: Path) -> None:
    (tmp_path / "none.jsonl").write_bytes(b"")
    rc, err, _ = run("replay", "none.jsonl", *EXAMPLES, "--no-report", cwd=tmp_path)
    assert rc == 1 and "none.jsonl: no events" in one_error_line(err)


def test_replay_with_an_unknown_default_plan(tmp_path: Path) -> None:
    rc, err, _ = run("replay", str(SAMPLE), *EXAMPLES, "--default-plan", "nope", cwd=tmp_path)
    assert rc == 1 and "default plan 'nope' is not among" in one_error_line(err)


def test_check_of_missing_and_empty_inputs(tmp_path: Path) -> None:
    rc, err, _ = run("check", "missing.yaml", cwd=tmp_path)
    assert rc == 1 and "missing.yaml: no such plan or rule file" in one_error_line(err)
    (tmp_path / "d").mkdir()
    rc, err, _ = run("check", "d", cwd=tmp_path)
    assert rc == 1 and "d: no plan or rule files" in one_error_line(err)


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, str]:
    """The test keys as files (operator key, trusted ring, worker key)."""
    from tests.keys import key_env

    return key_env(tmp_path / "keys")


@pytest.mark.parametrize(
    "args",
    [
        ["kill", "r1"],
        ["resume", "r1"],
        ["signoff", "--rollout", "r1", "--stage", "canary-5", "--role", "cto", "--by", "ana"],
        ["tail", "--no-follow"],
        ["export", "--rollout", "r1"],
        ["topics", "describe"],
        ["simulate", "--kafka", "--duration", "5"],
    ],
    ids=lambda a: a[0],
)
def test_unreachable_broker_is_one_line_at_once(
    args: list[str], dead_port: str, tmp_path: Path, keys: dict[str, str]
) -> None:
    rc, err, seconds = run(*args, "--bootstrap", dead_port, cwd=tmp_path, env=keys)
    line = one_error_line(err)
    assert rc == 1
    assert f"cannot reach Kafka: tried {dead_port} (connection refused)" in line
    assert seconds < 20  # the Kafka client alone waits ~30 s, then prints a traceback


def test_unresolvable_broker_names_each_address(
    tmp_path: Path, dead_port: str, keys: dict[str, str]
) -> None:
    rc, err, _ = run("kill", "r1", "-b", f"nohost.invalid:9092,{dead_port}", cwd=tmp_path,
                     env=keys)  # fmt: skip
    line = one_error_line(err)
    assert rc == 1
    assert "nohost.invalid:9092 (name not resolved)" in line
    assert f"{dead_port} (connection refused)" in line


def test_keys_generate_into_a_missing_directory(tmp_path: Path) -> None:
    out = tmp_path / "missing" / "w.json"
    args = ("keys", "generate", "--key-id", "w-1", "--rollout", "r*", "--out", str(out))
    rc, err, _ = run(*args, cwd=tmp_path)
    assert rc != 0 and "cannot write the key (No such file or directory)" in one_error_line(err)
    assert not out.parent.exists()
    (tmp_path / "missing").mkdir()
    rc, err, _ = run(*args, "--ring", str(tmp_path / "nowhere" / "ring.json"), cwd=tmp_path)
    assert rc != 0 and "cannot write the ring" in one_error_line(err)
