"""Replay throughput of the core on the example plan, beside bare JSON decoding.

    python -m tests.bench.core.replay [--seconds 1800] [--batch 2000] [--profile]

One core, one process. The stream: baseline + canary + shadow flow over three regions
(orders with latency, fills, rejects, errors, P&L and prices; shadow decision pairs; status
and metric events), with a canary regression half-way, gated by the example broker plan.
Figures, all on the same JSONL file in the same run:

* ``json``: bare ``msgspec.json.decode`` of every line (no validation) — the reference;
* ``decode``: the typed, validating :class:`topics.codec.Decoder`;
* ``replay``: decode + ``Core.process`` (what ``rollguard replay`` does, minus plots).

Times are CPU (process) time, best of ``--repeat`` runs, so a busy machine skews them less.

The ratio replay/json says how many times slower the whole core is than just reading JSON.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from monitor.core import Core, load_plans
from monitor.core.replay import replay
from monitor.core.synthetic import StreamSpec, generate
from topics.codec import Decoder, encode_event

ROOT = Path(__file__).resolve().parents[3]
PLANS = [ROOT / "examples/plans/broker-bridge.yaml", ROOT / "examples/rules/broker-gates.yaml"]


def best_of(n: int, fn: Callable[[], object]) -> float:
    """Best CPU time of n runs (process time: fair on a busy machine, one core)."""
    times = []
    for _ in range(n):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=600, help="event-time length of the stream")
    ap.add_argument("--baseline-per-s", type=int, default=200, help="baseline orders per second")
    ap.add_argument("--canary-per-s", type=int, default=100, help="canary orders per second")
    ap.add_argument("--shadow-per-s", type=int, default=50, help="shadow decision pairs per s")
    ap.add_argument("--batch", type=int, default=256, help="events per Core.process call")
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs")
    ap.add_argument("--profile", action="store_true", help="cProfile one replay run")
    args = ap.parse_args()

    spec = StreamSpec(
        seconds=args.seconds,
        baseline_per_s=args.baseline_per_s,
        canary_per_s=args.canary_per_s,
        shadow_per_s=args.shadow_per_s,
        regress_at=args.seconds * 0.6,
        seed=1,
    )
    events = generate(spec)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        path.write_bytes(b"".join(encode_event(e) + b"\n" for e in events))
        lines = path.read_bytes().splitlines()
        size_mb = path.stat().st_size / 1e6
    n = len(lines)
    plans = load_plans(PLANS)
    print(
        f"stream: {n} events ({size_mb:.0f} MB JSONL), {args.seconds} s of event time "
        f"({n / args.seconds:.0f} events per 1-s step), 3 variants x 3 regions, plan "
        f"bridge-routing-v2 "
        f"({len(plans['bridge-routing-v2'].all_rules())} rules)"
    )

    def bare() -> None:
        decode = msgspec.json.decode
        for line in lines:
            decode(line)

    def typed() -> None:
        d = Decoder()
        for line in lines:
            d.decode(line)

    commands: list[int] = []

    def full() -> None:
        res = replay(lines, Core(plans), batch_size=args.batch, record=False)
        commands.append(len(res.commands))

    t_json = best_of(args.repeat, bare)
    t_decode = best_of(args.repeat, typed)
    t_replay = best_of(args.repeat, full)
    core_only = t_replay - t_decode
    print(f"{'json (reference)':<22}{n / t_json:>12,.0f} events/s")
    print(f"{'typed decode':<22}{n / t_decode:>12,.0f} events/s")
    print(
        f"{'replay (decode+core)':<22}{n / t_replay:>12,.0f} events/s   "
        f"{t_replay / n * 1e6:.2f} µs/event, {commands[-1]} decisions"
    )
    print(
        f"{'core alone (diff)':<22}{n / core_only:>12,.0f} events/s   "
        f"{core_only / n * 1e6:.2f} µs/event, {core_only / args.seconds * 1e3:.1f} ms CPU per "
        f"second of event time"
    )
    print(
        f"ratio replay / bare json decoding: {t_replay / t_json:.1f}x slower "
        f"(target: replay >= 100,000 events/s: {'met' if n / t_replay >= 1e5 else 'NOT met'})"
    )
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        full()
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
