"""Cost and size of the fleet status: what an owner spends per status record, beside what
the core spends applying the events behind it, measured in the same run.

Run on demand: ``python -m tests.bench.status``. An owner re-publishes a rollout's view when
its state changes and at most every ``REFRESH_S`` while events flow, plus one heartbeat per
second per worker; so per active rollout the status costs ``record_us / REFRESH_S`` of CPU
per second, against ``event_us × events/s`` for its telemetry. Prints medians of
``REPEATS`` runs.
"""

from __future__ import annotations

import statistics
import time

from monitor.core import Core, load_plans
from monitor.sim.synthetic import StreamSpec, generate
from monitor.status.publisher import REFRESH_S, StatusPublisher
from monitor.status.table import StatusTable
from topics.keys import SigningKey

REPEATS = 5
PLANS = ["examples/plans/broker-bridge.yaml", "examples/rules/broker-gates.yaml"]
KEY = SigningKey.generate("bench-worker-1", "worker")
RING = KEY.ring(rollouts=("bridge-*",))


def main() -> None:
    events = generate(StreamSpec(seconds=600, regress_at=400))
    event_us, record_us, apply_us, sizes = [], [], [], []
    for _ in range(REPEATS):
        core = Core(load_plans(PLANS))
        started = time.perf_counter()
        core.process(events)
        event_us.append((time.perf_counter() - started) / len(events) * 1e6)
        publisher = StatusPublisher("bench.status", "w1", KEY, collect_every_s=0.0, refresh_s=0.0)
        n = 200
        started = time.perf_counter()
        for i in range(n):
            publisher.touch(["bridge-v2-rollout"])
            publisher.collect(core, 1_700_000_000.0 + i, force=True)
        record_us.append((time.perf_counter() - started) / n * 1e6)
        records = publisher.take()
        sizes.append(publisher.record_bytes / publisher.records)
        table = StatusTable(RING)
        started = time.perf_counter()
        for key, value in records:
            table.apply(key, value, 1_700_000_000.0)
        apply_us.append((time.perf_counter() - started) / len(records) * 1e6)
    ev, rec = statistics.median(event_us), statistics.median(record_us)
    print(f"core, per event (reference)         {ev:8.2f} us")
    print(f"owner, per status record + beat     {rec:8.1f} us  ({rec / ev:.0f}x an event)")
    print(f"reader, per record (verify, apply)  {statistics.median(apply_us):8.1f} us")
    print(f"bytes per record (view + beat avg)  {statistics.median(sizes):8.0f} B")
    per_s, rate = rec / REFRESH_S, len(events) / 600
    print(
        f"per active rollout: {per_s:.0f} us CPU/s for its status at most, vs "
        f"{ev * rate:.0f} us/s for its {rate:.0f} events/s of telemetry "
        f"({per_s / (ev * rate):.2f}x)"
    )


if __name__ == "__main__":
    main()
