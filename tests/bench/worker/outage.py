"""A broker outage mid-stream: is anything lost, late, false or stuck afterwards?

Runs the scenario of ``tests/integration/worker/outage.py`` (one broker of its own, two
workers, 5 rollouts, the broker stopped by SIGTERM and by SIGKILL for ``OUTAGE_S`` while a
rule is pending) ``RUNS`` times per kind of stop and prints each run's figures: decisions
missing / extra / with two contents against the offline replay, events late and applied,
log bytes per worker during the outage, sequence errors, time to red ``/healthz``, and the
time from the broker's return to the last expected decision.

    python -m tests.bench.worker.outage                 # RUNS=1 OUTAGE_S=60 STOPS=term,kill
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tests.integration.worker.outage import run_outage


def main() -> None:
    runs = int(os.environ.get("RUNS", "1"))
    outage_s = float(os.environ.get("OUTAGE_S", "60"))
    stops = os.environ.get("STOPS", "term,kill").split(",")
    failed = 0
    for run in range(runs):
        for stop in stops:
            tmp = Path(tempfile.mkdtemp(prefix="rollguard-outage-"))  # worker logs stay
            figures = run_outage(stop, tmp, outage_s=outage_s)
            failed += not figures.ok
            print(f"run {run + 1} {'ok  ' if figures.ok else 'FAIL'} {figures.summary()}")
            for w in figures.workers:
                for line in w.outage_lines[:8]:
                    print(f"    {w.name}| {line[:200]}")
            print(f"    worker logs: {tmp}")
    print(f"{runs * len(stops) - failed} of {runs * len(stops)} runs ok")


if __name__ == "__main__":
    main()
