"""End-to-end events/s of one worker vs a bare aiokafka ``getmany`` + JSON decode loop over
the same messages, for single-event messages and for 1,000-event batch envelopes; the
do-nothing faust agent's figure beside them. Target: worker ≥ 0.3 × reference.

    python -m tests.bench.worker.throughput            # own broker
    ROLLGUARD_BENCH_BOOTSTRAP=host:port N=200000 python -m tests.bench.worker.throughput

The worker's rate is taken from its first event applied to its last. Its ingest starts
forwarding before that clock starts, so a short backlog overstates the rate: 100k single
events read 0.70x and 500k in envelopes 0.26-0.28x, where 400k and 2M (the defaults, several
seconds each) read 0.47x and 0.21x in the same session.

The pipeline is measured with the small test core (``threshold_core``: near-free per event)
so the figure is the worker's own cost; a second single-event run uses the product ``Core``
with the example broker plan, whose per-event cost (~25-30 µs here) bounds that row.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.bench.worker.common import bench_broker, fresh_topics, raw_reference, worker_rate
from tests.integration.worker.support import THRESHOLD_CORE, broker_scenario, produce, scenario


def faust_noop(bootstrap: str, topic: str, count: int) -> float:
    out = subprocess.run(
        [sys.executable, "-m", "tests.bench.worker.faust_noop", bootstrap, topic, str(count)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    found = re.search(r"faust_noop (\d+) ([\d.]+)", out.stdout + out.stderr)
    if found:
        return int(found[1]) / float(found[2])
    raise RuntimeError(f"faust no-op agent gave no figure:\n{(out.stdout + out.stderr)[-2000:]}")


def row(name: str, rate: float, reference: float | None = None) -> None:
    ratio = f"{rate / reference:6.2f}x" if reference else "       "
    print(f"  {name:<52} {rate:>11,.0f} ev/s  {ratio}", flush=True)


def main() -> None:
    n = int(os.environ.get("N", "400000"))
    faust_n = min(n, int(os.environ.get("FAUST_N", "30000")))
    with bench_broker() as bootstrap:
        events = scenario(rollouts=20, seconds=n // 60 + 1, step_s=1.0)[:n]  # test-core input

        single = fresh_topics(bootstrap, "single")
        produce(bootstrap, single.telemetry, events)
        ref = raw_reference(bootstrap, single.telemetry, n, batches=False)
        print(f"single-event messages ({n:,} events, 1 per message)")
        row("reference: aiokafka getmany + orjson.loads", ref)
        row(
            "reference, validating: getmany + codec.Decoder",
            raw_reference(bootstrap, single.telemetry, n, batches=False, validate=True),
            ref,
        )
        row(
            f"faust do-nothing agent ({faust_n:,} messages)",
            faust_noop(bootstrap, single.telemetry, faust_n),
            ref,
        )
        rate, worker = worker_rate(bootstrap, single, n, "single", core_factory=THRESHOLD_CORE)
        worker.stop()
        row("rollguard worker, end to end (test core)", rate, ref)

        # 5x the events: envelopes go fast, and a run of a second or two overstates the rate
        nb = 5 * n
        many = scenario(rollouts=20, seconds=nb // 60 + 1, step_s=1.0)[:nb]
        batched = fresh_topics(bootstrap, "batch")
        produce(bootstrap, batched.telemetry, many, batch_size=1000)
        ref_b = raw_reference(bootstrap, batched.telemetry, nb, batches=True)
        print(f"1,000-event batch envelopes ({nb:,} events)")
        row("reference: aiokafka getmany + orjson.loads", ref_b)
        row(
            "reference, validating: getmany + codec.Decoder",
            raw_reference(bootstrap, batched.telemetry, nb, batches=True, validate=True),
            ref_b,
        )
        rate, worker = worker_rate(bootstrap, batched, nb, "batch", core_factory=THRESHOLD_CORE)
        worker.stop()
        row("rollguard worker, end to end (test core)", rate, ref_b)

        real_events = broker_scenario({"ra": 60.0, "rb": None, "rc": None}, seconds=n // 200)
        real = fresh_topics(bootstrap, "real")
        produce(bootstrap, real.telemetry, real_events)
        ref_r = raw_reference(bootstrap, real.telemetry, len(real_events), batches=False)
        print(f"single-event messages, product Core + example plan ({len(real_events):,} events)")
        row("reference: aiokafka getmany + orjson.loads", ref_r)
        rate, worker = worker_rate(bootstrap, real, len(real_events), "real")
        worker.stop()
        row("rollguard worker, end to end (product Core)", rate, ref_r)


if __name__ == "__main__":
    main()
