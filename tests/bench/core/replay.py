"""The product core's cost per event on the example plan, beside bare JSON decoding.

    python -m tests.bench.core.replay [--seconds 600] [--repeat 3] [--profile]

One core, one process. The stream: baseline + canary + shadow flow over three regions
(orders with latency, fills, rejects, errors, P&L and prices; shadow decision pairs; status
and metric events), with a canary regression, gated by the example broker plan. Two shapes
of the same stream, as the worker receives them:

* single events: one JSON message per event, handed to ``Core.process`` a poll round
  (``--round`` messages) at a time;
* envelopes: 1,000-event batch envelopes (``topics.codec.encode_batch``), one
  ``Core.process`` call per envelope.

Per shape, medians of ``--repeat`` runs of CPU (process) time, so a busy machine skews them
less: the reference (bare ``orjson.loads`` of every message, what the worker bench's
reference does), the typed validating decode (``topics.codec.Decoder``), and decode + the
product ``Core`` (``rollguard replay``'s path). The core's own µs/event is the difference.
``--profile``: the top 5 functions by self time of one decode + core run of each shape.
``--rollouts 3 --baseline-per-s 40 --canary-per-s 20 --shadow-per-s 10`` is the worker
throughput bench's product-Core stream (~80 events per rollout and step: the per-step rule
evaluation then weighs more per event than at the default ~400).
"""

from __future__ import annotations

import argparse
import cProfile
import heapq
import pstats
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from monitor.core import Core, load_plans
from monitor.core.model import PlanSet
from monitor.sim.synthetic import StreamSpec, generate
from topics.codec import Decoder, encode_batch, encode_event
from topics.events import Event

ROOT = Path(__file__).resolve().parents[3]
PLANS = [ROOT / "examples/plans/broker-bridge.yaml", ROOT / "examples/rules/broker-gates.yaml"]


def median_of(n: int, fn: Callable[[], object]) -> float:
    """Median CPU time of n runs (process time: fairer on a busy machine, one core)."""
    times = []
    for _ in range(n):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return statistics.median(times)


def run_core(plans: PlanSet, messages: list[bytes], per_call: int) -> int:
    """Decode every message, hand ``per_call`` messages' events at a time to a fresh Core."""
    decode = Decoder().decode
    core = Core(plans)
    commands = 0
    batch: list[Event] = []
    for i, message in enumerate(messages, 1):
        batch += decode(message).events
        if i % per_call == 0:
            commands += len(core.process(batch))
            batch = []
    return commands + len(core.process(batch))


def shape(
    name: str, plans: PlanSet, messages: list[bytes], per_call: int, n: int, repeat: int
) -> None:
    def bare() -> None:
        for message in messages:
            orjson.loads(message)

    def typed() -> None:
        decode = Decoder().decode
        for message in messages:
            decode(message)

    t_ref = median_of(repeat, bare)
    t_typed = median_of(repeat, typed)
    t_core = median_of(repeat, lambda: run_core(plans, messages, per_call))
    print(f"{name} ({len(messages):,} messages, medians of {repeat} runs)")
    line("reference: orjson.loads", n, t_ref)
    line("typed decode (codec.Decoder)", n, t_typed, t_ref)
    line("decode + product Core", n, t_core, t_ref)
    line("product Core alone (difference)", n, t_core - t_typed)


def line(name: str, n: int, seconds: float, reference: float | None = None) -> None:
    ratio = f"  {reference / seconds:5.2f}x reference" if reference else ""
    print(f"  {name:<34}{n / seconds:>11,.0f} events/s {seconds / n * 1e6:7.2f} µs/event{ratio}")


def profile(plans: PlanSet, messages: list[bytes], per_call: int, top: int = 5) -> None:
    prof = cProfile.Profile()
    prof.enable()
    run_core(plans, messages, per_call)
    prof.disable()
    stats = pstats.Stats(prof)
    table = stats.stats  # type: ignore[attr-defined]  # pstats keeps its table untyped
    rows = sorted(table.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    total = sum(v[2] for v in table.values())
    print(f"  top {top} functions by self time (of {total:.2f} s profiled):")
    for (path, line, func), (_, calls, self_s, _, _) in rows:
        where = f"{Path(path).name}:{line}({func})" if line else func
        print(f"    {self_s:7.3f} s {100 * self_s / total:5.1f} %  {calls:>9,} calls  {where}")


def envelopes_of(events: list[Event], size: int) -> list[list[Event]]:
    """Envelopes of ``size`` consecutive events of one rollout (the shape the worker's
    processor reads), in order of their first event."""
    per_rollout: dict[str, list[Event]] = {}
    for ev in events:
        per_rollout.setdefault(ev.rollout_id, []).append(ev)
    chunks = [evs[i : i + size] for evs in per_rollout.values() for i in range(0, len(evs), size)]
    return sorted(chunks, key=lambda chunk: chunk[0].ts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=600, help="event-time length of the stream")
    ap.add_argument("--baseline-per-s", type=int, default=200, help="baseline orders per second")
    ap.add_argument("--canary-per-s", type=int, default=100, help="canary orders per second")
    ap.add_argument("--shadow-per-s", type=int, default=50, help="shadow decision pairs per s")
    ap.add_argument("--rollouts", type=int, default=1, help="rollouts, interleaved by time")
    ap.add_argument("--round", type=int, default=500, help="single-event messages per Core call")
    ap.add_argument("--repeat", type=int, default=3, help="median of N runs (>= 3)")
    ap.add_argument("--profile", action="store_true", help="top 5 functions by self time")
    args = ap.parse_args()

    events = list(
        heapq.merge(
            *(
                generate(
                    StreamSpec(
                        rollout_id=f"bridge-v2-rollout-{i}",
                        seconds=args.seconds,
                        baseline_per_s=args.baseline_per_s,
                        canary_per_s=args.canary_per_s,
                        shadow_per_s=args.shadow_per_s,
                        regress_at=args.seconds * 0.6 if i == 0 else None,
                        seed=i + 1,
                    )
                )
                for i in range(args.rollouts)
            ),
            key=lambda e: e.ts,
        )
    )
    n = len(events)
    plans = load_plans(PLANS)
    print(
        f"stream: {n} events, {args.rollouts} rollout(s), {args.seconds} s of event time "
        f"({n / args.seconds / args.rollouts:.0f} events per rollout and 1-s step), 3 variants "
        f"x 3 regions, plan bridge-routing-v2 "
        f"({len(plans['bridge-routing-v2'].all_rules())} rules)"
    )
    singles = [encode_event(e) for e in events]
    envelopes = [encode_batch(chunk) for chunk in envelopes_of(events, 1000)]
    shapes = [
        ("single-event messages", singles, args.round),
        ("1,000-event envelopes", envelopes, 1),
    ]
    for name, messages, per_call in shapes:
        shape(name, plans, messages, per_call, n, args.repeat)
        if args.profile:
            profile(plans, messages, per_call)


if __name__ == "__main__":
    main()
