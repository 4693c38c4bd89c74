"""How fast ``rollguard`` starts: each command beside ``python -c pass`` in the same run.

Run on demand: ``python -m tests.bench.cli_start [--repeats N]``. Every round runs the
reference and each command once, interleaved (a loaded machine slows a round alike); the
table shows medians of wall time and of the child's CPU time (user + system: what the
command itself costs, which a loaded machine does not inflate the way it inflates wall
time), the median paired CPU difference to the interpreter's bare start, and the 0.5 s
target (CPU time: what the command costs on a busy machine). The commands are the
installed ``rollguard`` script beside this interpreter (else ``python -m monitor``).
``kill`` against a port nothing listens on measures start-up to its error (the broker
probe answers at once).
"""

from __future__ import annotations

import argparse
import os
import resource
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


def _time(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child): on a loaded machine the wall time waits
    for a core, the CPU time is the command's own cost."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, capture_output=True, check=False, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    rg = _rollguard()
    import tempfile

    from tests.keys import key_env

    keys_dir = Path(tempfile.mkdtemp(prefix="cli-start-keys-"))  # an operator key to kill with
    env = {**os.environ, **key_env(keys_dir)}
    cases = {
        "rollguard --help": [*rg, "--help"],
        "rollguard --version": [*rg, "--version"],
        "rollguard kill --help": [*rg, "kill", "--help"],
        "rollguard tail --help": [*rg, "tail", "--help"],
        "rollguard check examples/": [*rg, "check", "examples/plans", "examples/rules"],
        "rollguard kill r1 (no broker)": [*rg, "kill", "r1", "-b", _dead_port()],
    }
    reference = [sys.executable, "-c", "pass"]
    ref_times: list[tuple[float, float]] = []
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for _ in range(args.repeats):
        ref_times.append(_time(reference))
        for name, cmd in cases.items():
            times[name].append(_time(cmd, env))
    load = os.getloadavg()[0]
    print(f"{args.repeats} interleaved rounds; command: {' '.join(rg)}; load {load:.1f}")
    print(f"{'':32} {'wall':>7} {'cpu':>7} {'cpu - ref':>10}  target {TARGET_S} s")
    ref_wall = statistics.median(w for w, _ in ref_times)
    ref_cpu = statistics.median(c for _, c in ref_times)
    print(f"{'python -c pass (reference)':32} {ref_wall:7.3f} {ref_cpu:7.3f}")
    for name, values in times.items():
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        own = statistics.median(c - r for (_, c), (_, r) in zip(values, ref_times, strict=True))
        ok = "ok" if cpu < TARGET_S else "SLOW"
        print(f"{name:32} {wall:7.3f} {cpu:7.3f} {own:10.3f}  {ok}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
