"""``rollguard demo`` as a new user runs it: real broker, real workers, real decisions; it
ends by itself, reports, and leaves no process behind."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.interop import node_verdicts, python_verdicts, tampered
from tests.secrets import assert_clean
from topics.keyfiles import load_ring


def _cmdlines() -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
    return found


@pytest.mark.slow
def test_demo_runs_end_to_end_and_cleans_up(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor.cli",
            "demo",
            "--no-live",
            "--out",
            str(out),
            "--speed",
            "24",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-4000:]
    assert "live decisions equal the offline replay: yes" in text
    assert re.search(r"demo-healthy .*yes", text), text[-3000:]
    assert "ROLLBACK" in text and "FREEZE (advisory)" in text
    assert (out / "report.html").stat().st_size > 10_000
    assert_clean(text, "demo output")
    for log in out.glob("*.log"):
        assert_clean(log.read_bytes(), str(log))
    python_and_node_agree_on_the_demo_commands(out)
    broker_pid = int(re.search(r"pid (\d+)", text).group(1))  # type: ignore[union-attr]
    leftovers = {
        pid: cmd for pid, cmd in _cmdlines().items() if str(out) in cmd or pid == broker_pid
    }
    assert leftovers == {}


def python_and_node_agree_on_the_demo_commands(out: Path) -> None:
    """Every command the demo's orchestrator saw, and tampered copies of each, judged by the
    Python client and by the Node verifier written from docs/signing.md: the same verdicts.
    The orchestrator side was handed the public ring only."""
    ring_file = out / "keys" / "trusted-keys.json"
    assert "private" not in ring_file.read_text()
    lines = [json.loads(line) for line in (out / "control-messages.jsonl").read_text().splitlines()]
    messages = [base64.b64decode(line["b64"]) for line in lines]
    assert len(messages) >= 5
    ring = load_ring(ring_file)
    python = python_verdicts(ring, messages)
    assert python == node_verdicts(ring_file, messages)
    assert set(python) == {"ok:worker"}
    variants = [v for m in messages for v in tampered(m)]
    python_refusals = python_verdicts(ring, variants)
    assert python_refusals == node_verdicts(ring_file, variants)
    assert "ok:worker" not in python_refusals
    print(f"Python and Node agree on {len(messages)} demo commands and {len(variants)} tampered")


def test_demo_stopped_by_sigterm_stops_what_it_started(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "demo", "--no-live", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # wait until the broker and both workers run
        seen.append(line)
        if "3/5 simulating" in line:
            break
    text = "".join(seen)
    broker_pid = int(re.search(r"pid (\d+)", text).group(1))  # type: ignore[union-attr]
    assert any(str(out) in cmd for cmd in _cmdlines().values())  # the workers are up
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2, text + rest
    assert "stopped by SIGTERM" in rest
    leftovers = {
        pid: cmd for pid, cmd in _cmdlines().items() if str(out) in cmd or pid == broker_pid
    }
    assert leftovers == {}
