"""A do-nothing faust agent over a topic: the per-message cost of faust's machinery.

Run by ``tests.bench.worker.throughput`` as a subprocess (faust wants its own process):
``python -m tests.bench.worker.faust_noop BOOTSTRAP TOPIC COUNT``. Prints one line,
``faust_noop <messages> <seconds>``, timed from the first message to the COUNT-th.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid

import faust


def main() -> None:
    bootstrap, topic_name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    app = faust.App(
        f"rollguard-bench-noop-{uuid.uuid4().hex[:8]}",
        broker=f"kafka://{bootstrap}",
        value_serializer="raw",
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        store="memory://",
        datadir=tempfile.mkdtemp(prefix="rollguard-faust-noop-"),  # not the working tree
    )
    topic = app.topic(topic_name, value_type=bytes, value_serializer="raw")
    seen = {"n": 0, "t0": 0.0}

    @app.agent(topic)
    async def noop(stream):  # type: ignore[no-untyped-def]
        async for _ in stream:
            seen["n"] += 1
            if seen["n"] == 1:
                seen["t0"] = time.perf_counter()
            if seen["n"] >= count:
                print(f"faust_noop {seen['n']} {time.perf_counter() - seen['t0']:.3f}", flush=True)
                os._exit(0)  # bench only: faust's orderly shutdown takes seconds

    sys.argv = [sys.argv[0], "worker", "-l", "warn", "--without-web"]
    app.main()


if __name__ == "__main__":
    main()
