"""What the cyclic garbage collector costs ``rollguard replay``, per collector setting.

    python -m tests.bench.core.replay_gc [--seconds 600] [--pairs 5]

One JSONL stream (the replay benchmark's: :mod:`tests.bench.core.replay`) is replayed through
the example broker plan in a fresh process per run, so no run inherits another's heap. Each
round runs every setting once, in a rotated order; a setting's figure is the median over the
rounds of its CPU time divided by the reference's in the same round (paired: a busy machine
slows both alike). Settings:

* ``off`` (reference): ``gc.disable()`` for the whole replay (what ``replay()`` once did);
* ``default``: the interpreter's thresholds, untouched;
* ``freeze``: ``gc.freeze()`` after the plans and the core are built (``rollguard replay``);
* ``freeze+threshold``: that, plus ``gc.set_threshold(100_000, 50, 100)`` (the worker's
  setting, :func:`monitor.worker.run.run_worker`).

Each run also prints its peak RSS, so a setting that saves time by holding garbage shows it.

Measured on a loaded 2-core machine (CPU / off, medians of 5 rounds; 120k events | 480k):
default 1.165x | 1.082x, freeze 0.933x | 1.038x, freeze+threshold 1.051x | 0.971x; peak RSS
the same for every setting (171 | 538 MB). Freezing is within noise of switching the
collector off, so ``rollguard replay`` freezes and leaves the collector on.
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PLANS = [ROOT / "examples/plans/broker-bridge.yaml", ROOT / "examples/rules/broker-gates.yaml"]
SETTINGS = ("off", "default", "freeze", "freeze+threshold")
WORKER_GC_THRESHOLD = (100_000, 50, 100)  # monitor.worker.run.run_worker


def one(path: Path, setting: str) -> None:
    """One replay in this process under ``setting``; prints CPU seconds and peak RSS (MB)."""
    from monitor.core import Core, load_plans
    from monitor.core.replay import replay

    lines = path.read_bytes().splitlines()
    core = Core(load_plans(PLANS))
    if setting == "off":
        gc.disable()
    if setting.startswith("freeze"):
        gc.freeze()
    if setting == "freeze+threshold":
        gc.set_threshold(*WORKER_GC_THRESHOLD)
    t = time.process_time()
    result = replay(lines, core, record=False)
    cpu = time.process_time() - t
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{cpu:.4f} {rss_mb:.1f} {len(result.commands)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=600, help="event-time length of the stream")
    ap.add_argument("--pairs", type=int, default=5, help="rounds (each runs every setting)")
    ap.add_argument("--one", nargs=2, metavar=("PATH", "SETTING"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        one(Path(args.one[0]), args.one[1])
        return

    from monitor.sim.synthetic import StreamSpec, generate
    from topics.codec import encode_event

    spec = StreamSpec(
        seconds=args.seconds,
        baseline_per_s=200,
        canary_per_s=100,
        shadow_per_s=50,
        regress_at=args.seconds * 0.6,
        seed=1,
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        path.write_bytes(b"".join(encode_event(e) + b"\n" for e in generate(spec)))
        n = len(path.read_bytes().splitlines())
        print(f"stream: {n} events, {args.seconds} s of event time; {args.pairs} rounds")
        cpu: dict[str, list[float]] = {s: [] for s in SETTINGS}
        rss: dict[str, list[float]] = {s: [] for s in SETTINGS}
        decisions: set[str] = set()
        for r in range(args.pairs):
            order = SETTINGS[r % len(SETTINGS) :] + SETTINGS[: r % len(SETTINGS)]
            for setting in order:
                out = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "tests.bench.core.replay_gc",
                        "--one",
                        str(path),
                        setting,
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=ROOT,
                ).stdout.split()
                cpu[setting].append(float(out[0]))
                rss[setting].append(float(out[1]))
                decisions.add(out[2])
    print(f"decisions per run: {', '.join(sorted(decisions))} (must be one number)")
    print(f"{'setting':<18}{'events/s':>12}{'CPU / off (median of pairs)':>30}{'peak RSS MB':>14}")
    for s in SETTINGS:
        ratio = statistics.median(a / b for a, b in zip(cpu[s], cpu["off"], strict=True))
        rate = n / statistics.median(cpu[s])
        print(f"{s:<18}{rate:>12,.0f}{ratio:>29.3f}x{statistics.median(rss[s]):>14.0f}")


if __name__ == "__main__":
    main()
