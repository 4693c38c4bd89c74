"""rollguard installed in a faust app (``monitor.faust``), end to end over a telemetry backlog.

Run by ``tests.bench.worker.throughput`` as a subprocess (faust wants its own process):
``python -m tests.bench.worker.faust_adapter BOOTSTRAP PREFIX COUNT``. Prints one line,
``faust_adapter <events> <seconds>``, timed from the first event the core applied to the
COUNT-th, as the native worker's figure is. Uses the small test core (``threshold_core``), as
the native worker's row does, so the figure is the adapter's own cost.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid

import faust

from monitor.faust import FaustSettings, install
from tests.integration.worker.threshold_core import ThresholdCore
from tests.keys import RING, WORKER
from topics.config import TopicsConfig


def main() -> None:
    bootstrap, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    app = faust.App(
        f"rollguard-bench-adapter-{uuid.uuid4().hex[:8]}",
        broker=f"kafka://{bootstrap}",
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        store="memory://",
        topic_partitions=4,
        datadir=tempfile.mkdtemp(prefix="rollguard-faust-adapter-"),  # not the working tree
    )
    settings = FaustSettings(
        signing_key=WORKER,
        trusted_keys=RING,
        topics=TopicsConfig(partitions=4).with_prefix(prefix),
        silence_after_s=3600.0,
    )
    rollguard = install(app, settings, core=ThresholdCore())
    seen = {"t0": 0.0, "n0": 0}

    async def clock() -> None:
        applied = rollguard.applier.applied
        if applied and not seen["t0"]:
            seen["t0"], seen["n0"] = time.perf_counter(), applied
        if applied >= count:
            elapsed = time.perf_counter() - seen["t0"]
            print(f"faust_adapter {applied - seen['n0']} {elapsed:.3f}", flush=True)
            os._exit(0)  # bench only: faust's orderly shutdown takes seconds

    app.timer(0.02)(clock)
    sys.argv = [sys.argv[0], "worker", "-l", "warn", "--without-web"]
    app.main()


if __name__ == "__main__":
    main()
