"""How fast ``rollguard`` starts: each command beside ``python -c pass`` in the same run.

Run on demand: ``python -m tests.bench.cli_start [--repeats N]``. Every round runs the
reference and each command once, interleaved (a loaded machine slows a round alike); the
table shows medians, the median of the paired differences (the CLI's own cost over the
interpreter's start) and the 0.5 s target. The commands are the installed ``rollguard``
script beside this interpreter (else ``python -m monitor``). ``kill`` against a port
nothing listens on measures start-up to its error (the broker probe answers at once).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET_S = 0.5


def _rollguard() -> list[str]:
    script = Path(sys.executable).with_name("rollguard")
    if script.exists():
        return [str(script)]
    found = shutil.which("rollguard")
    return [found] if found else [sys.executable, "-m", "monitor"]


def _dead_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def _time(cmd: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, capture_output=True, check=False, env=env)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    rg = _rollguard()
    import os

    env = {**os.environ, "ROLLGUARD_OPERATOR_KEYS": "op1=" + "ab" * 32}
    cases = {
        "rollguard --help": [*rg, "--help"],
        "rollguard --version": [*rg, "--version"],
        "rollguard kill --help": [*rg, "kill", "--help"],
        "rollguard tail --help": [*rg, "tail", "--help"],
        "rollguard check examples/": [*rg, "check", "examples/plans", "examples/rules"],
        "rollguard kill r1 (no broker)": [*rg, "kill", "r1", "-b", _dead_port()],
    }
    reference = [sys.executable, "-c", "pass"]
    ref_times: list[float] = []
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.repeats):
        ref_times.append(_time(reference))
        for name, cmd in cases.items():
            times[name].append(_time(cmd, env))
    ref = statistics.median(ref_times)
    print(f"{args.repeats} interleaved rounds; command: {' '.join(rg)}")
    print(f"{'':32} {'median':>8} {'- python -c pass':>17} {'target':>8}")
    print(f"{'python -c pass (reference)':32} {ref:8.3f} {'':>17}")
    for name, values in times.items():
        median = statistics.median(values)
        own = statistics.median(v - r for v, r in zip(values, ref_times, strict=True))
        ok = "ok" if median < TARGET_S else "SLOW"
        print(f"{name:32} {median:8.3f} {own:17.3f} {TARGET_S:6.1f} s {ok}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
