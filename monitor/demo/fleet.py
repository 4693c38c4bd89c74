"""The demo's worker fleet: real ``rollguard worker`` processes, started and stopped by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from monitor.devbroker import free_port
from topics.errors import RollguardError


class FleetError(RollguardError):
    """A demo worker did not start or died."""


@dataclass
class WorkerProcess:
    worker_id: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get_json(self, path: str, timeout_s: float = 1.0) -> Any:
        """GET a JSON document from the worker; None when it does not answer 200."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout_s) as response:
                return orjson.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class Fleet:
    """Start N workers on one consumer group; ``view()`` asks whichever owns a rollout."""

    def __init__(
        self,
        *,
        bootstrap: str,
        topic_prefix: str,
        plans: list[Path],
        signing_key: Path,
        trusted_keys: Path,
        workdir: Path,
        size: int = 2,
        checkpoint_interval_s: float = 2.0,
    ) -> None:
        self.workers: list[WorkerProcess] = []
        self._args = (
            bootstrap,
            topic_prefix,
            plans,
            signing_key,
            trusted_keys,
            checkpoint_interval_s,
        )
        self._workdir = workdir
        self._size = size

    def start(self, timeout_s: float = 90.0) -> None:
        bootstrap, prefix, plans, signing_key, trusted_keys, interval = self._args
        for n in range(1, self._size + 1):
            port = free_port()
            log_path = self._workdir / f"worker-{n}.log"
            log = log_path.open("ab")
            cmd = [
                sys.executable,
                "-m",
                "monitor.cli",
                "worker",
                "--bootstrap",
                bootstrap,
                "--topic-prefix",
                prefix,
                "--signing-key",
                str(signing_key),
                "--trusted-keys",
                str(trusted_keys),
                "--worker-id",
                f"demo-worker-{n}",
                "--group",
                f"{prefix}-fleet",
                "--http-port",
                str(port),
                "--checkpoint-interval",
                str(interval),
                "--log-level",
                "WARNING",
            ]
            for plan in plans:
                cmd += ["--plan", str(plan)]
            proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            self.workers.append(WorkerProcess(f"demo-worker-{n}", port, proc, log_path, log))
        deadline = time.monotonic() + timeout_s
        for w in self.workers:
            while w.get_json("/healthz") is None:
                if w.proc.poll() is not None:
                    raise FleetError(f"{w.worker_id} exited during start-up:\n{w.log_tail()}")
                if time.monotonic() > deadline:
                    raise FleetError(f"{w.worker_id} not healthy after {timeout_s:.0f} s")
                time.sleep(0.2)

    def view(self, rollout_id: str) -> dict[str, Any] | None:
        for w in self.workers:
            view = w.get_json(f"/rollouts/{rollout_id}")
            if isinstance(view, dict):
                return view
        return None

    def check_alive(self) -> None:
        for w in self.workers:
            if w.proc.poll() is not None:
                raise FleetError(f"{w.worker_id} died (exit {w.proc.returncode}):\n{w.log_tail()}")

    def stop(self, timeout_s: float = 15.0) -> None:
        for w in self.workers:
            if w.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(w.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for w in self.workers:
            try:
                w.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()
            w._log.close()
