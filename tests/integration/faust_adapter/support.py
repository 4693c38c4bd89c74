"""Running ``examples/faust_app.py`` as real ``faust worker`` processes (so SIGKILL is real),
and what ``rollguard simulate`` and ``rollguard replay`` say about the same events."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from monitor.devbroker import free_port
from tests.integration.worker.support import ROOT, WorkerProcess
from tests.keys import key_env, operator_signed
from topics.codec import Decoder, encode_event
from topics.commands import Command, decode_command
from topics.config import TopicsConfig

PLANS = (ROOT / "examples/plans/broker-bridge.yaml", ROOT / "examples/rules/broker-gates.yaml")


def start_faust_app(
    bootstrap: str,
    topics: TopicsConfig,
    app_id: str,
    name: str,
    log_dir: Path,
) -> WorkerProcess:
    """``faust -A examples.faust_app worker`` for ``app_id`` (its consumer group), with
    rollguard's topics under ``topics``' prefix; ``/healthz`` answers once it is assigned."""
    port = free_port()
    env = {
        **os.environ,
        "ROLLGUARD_BOOTSTRAP": bootstrap,
        "ROLLGUARD_TOPIC_PREFIX": topics.telemetry.rsplit(".", 1)[0],
        **key_env(log_dir / "keys"),
        "ROLLGUARD_FAUST_APP_ID": app_id,
        "ROLLGUARD_FAUST_PARTITIONS": str(topics.partitions),
        "ROLLGUARD_FAUST_DATADIR": str(log_dir / f"{app_id}-{name}-data"),
        "ROLLGUARD_FAUST_SESSION_TIMEOUT_S": "6",  # the broker's minimum: a quick takeover
        "ROLLGUARD_CHECKPOINT_INTERVAL_S": "0.5",
        # a backlog is read in seconds; its end must not read as a silent feed
        "ROLLGUARD_SILENCE_AFTER_S": "3600",
        "PYTHONPATH": str(ROOT),
    }
    args = [
        sys.executable,
        "-m",
        "faust",
        "-A",
        "examples.faust_app",
        "worker",
        "-l",
        "info",
        "--web-port",
        str(port),
        "--web-host",
        "127.0.0.1",
        "--web-bind",
        "127.0.0.1",
    ]
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    return WorkerProcess(proc, port, log_path)


def simulate(out: Path, *scenarios: str, order_rate: float = 10.0, duration: float = 900.0) -> None:
    """``rollguard simulate`` to a JSONL file (deterministic: seed 0), its plan events
    signed by the test operator (workers dead-letter unsigned ones)."""
    args = [sys.executable, "-m", "monitor.cli", "simulate", "-o", str(out)]
    for scenario in scenarios:
        args += ["-s", scenario]
    args += ["--order-rate", str(order_rate), "--duration", str(duration), "--stage", "canary-20"]
    env = {**os.environ, **key_env(out.parent / "keys")}
    subprocess.run(args, cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)


def replay(events: Path, tmp_path: Path) -> list[Command]:
    """What ``rollguard replay`` decides over ``events`` (its decisions JSONL)."""
    decisions = tmp_path / "replay.decisions.jsonl"
    args = [sys.executable, "-m", "monitor.cli", "replay", str(events), "--no-report"]
    for plan in PLANS:
        args += ["-p", str(plan)]
    args += ["--decisions", str(decisions)]
    subprocess.run(args, cwd=tmp_path, check=True, capture_output=True, timeout=300)
    return [decode_command(line) for line in decisions.read_bytes().splitlines() if line]


def lines_keyed(events: Path) -> list[tuple[bytes, bytes]]:
    """The simulator's lines as messages keyed by rollout, bytes as they were written, but
    its plan and sign-off events signed by the test operators (workers dead-letter them
    unsigned; ``rollguard simulate --kafka`` signs them as it sends)."""
    decoder = Decoder()
    keyed = []
    for line in events.read_bytes().splitlines():
        if not line:
            continue
        fields, value = orjson.loads(line), line
        if fields["kind"] in ("plan", "signoff"):
            value = encode_event(operator_signed(decoder.decode(line).events)[0])
        keyed.append((fields["rollout_id"].encode(), value))
    return keyed
