"""Decode + validate throughput vs bare JSON parsing of the same bytes.

Run on demand: ``python -m tests.bench.decode``. Prints events/s for single-event messages
and for 1,000-event batch envelopes, beside ``orjson.loads`` and ``json.loads`` of the same
bytes measured in the same run, and the ratio (target: validation ≤ 3× the bare parse for
batch envelopes). A second table decodes the realistic events of
``examples/events/sample.jsonl.gz`` in 1,000-event batches, as ``codec.Decoder`` sees a batch
message and as the worker's processor sees an envelope (``take.take_all``, its hot path).
"""

from __future__ import annotations

import gzip
import json
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from monitor.worker.envelope import encode_envelope
from monitor.worker.take import take_all as take_envelopes
from topics.codec import Decoder, encode_batch, encode_event
from topics.events import Event, Metric, Order, Shadow

REPEATS = 7
SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "events" / "sample.jsonl.gz"


def sample_events(n: int, seed: int = 7) -> list[Event]:
    rng = random.Random(seed)
    out: list[Event] = []
    for i in range(n):
        ts = 1.7e9 + i * 0.01
        seg = {"region": rng.choice(["eu", "us", "apac"]), "account": "retail"}
        variant = rng.choice(["baseline", "canary"])
        r = rng.random()
        if r < 0.8:
            out.append(
                Order(
                    v=1,
                    rollout_id=f"r{i % 50}",
                    variant=variant,
                    ts=ts,
                    order_id=f"o{i}",
                    status=rng.choice(["filled", "accepted", "rejected"]),
                    latency_ms=rng.lognormvariate(2.5, 0.6),
                    lp="lp-a",
                    venue="v1",
                    symbol="EURUSD",
                    qty=10.0,
                    filled_qty=10.0,
                    price=1.0842,
                    ref_price=1.0841,
                    segment=seg,
                    corr_id=f"c{i}",
                )
            )
        elif r < 0.9:
            out.append(
                Metric(
                    v=1,
                    rollout_id=f"r{i % 50}",
                    variant=variant,
                    ts=ts,
                    name="cpu_pct",
                    value=rng.uniform(10, 90),
                    segment=seg,
                )
            )
        else:
            out.append(
                Shadow(
                    v=1,
                    rollout_id=f"r{i % 50}",
                    variant="shadow",
                    ts=ts,
                    route="lp-b",
                    outcome="accept",
                    price=1.0843,
                    corr_id=f"c{i}",
                )
            )
    return out


def best_rate(n_events: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return n_events / statistics.median(times)


def main() -> None:
    events = sample_events(100_000)
    singles = [encode_event(e) for e in events]
    batches = [encode_batch(events[i : i + 1000]) for i in range(0, len(events), 1000)]
    decoder = Decoder()

    def decode_all(messages: list[bytes]) -> int:
        n = 0
        for m in messages:
            n += len(decoder.decode(m).events)
        assert n == len(events)
        return n

    rows = []
    for label, messages in (("single-event messages", singles), ("1,000-event batches", batches)):
        validated = best_rate(len(events), lambda m=messages: decode_all(m))
        bare_orjson = best_rate(len(events), lambda m=messages: [orjson.loads(x) for x in m])
        bare_json = best_rate(len(events), lambda m=messages: [json.loads(x) for x in m])
        rows.append((label, validated, bare_orjson, bare_json))

    print(
        f"{'input':<24}{'decode+validate':>18}{'orjson.loads':>15}{'json.loads':>13}"
        f"{'cost vs orjson':>16}{'cost vs json':>14}"
    )
    for label, validated, bare_orjson, bare_json in rows:
        print(
            f"{label:<24}{validated:>14,.0f} ev/s{bare_orjson:>11,.0f} ev/s{bare_json:>9,.0f} ev/s"
            f"{bare_orjson / validated:>15.2f}x{bare_json / validated:>13.2f}x"
        )
    print(
        "cost = time(decode+validate) / time(bare parse) of the same bytes; target <= 3x for"
        " batch envelopes"
    )


def sample_rows() -> None:
    """Realistic events, 1,000 a message: the rows closest to the worker's batch path."""
    lines = gzip.decompress(SAMPLE.read_bytes()).splitlines()
    n = len(lines) // 1000 * 1000
    chunks = [lines[i : i + 1000] for i in range(0, n, 1000)]
    batches = [b'{"kind":"batch","v":1,"events":[' + b",".join(c) + b"]}" for c in chunks]
    (rid,) = {orjson.loads(line)["rollout_id"] for line in lines}  # an envelope: one rollout
    envelopes = [encode_envelope(0, list(range(1000)), c, 0, rid, batched=True) for c in chunks]
    decoder = Decoder()

    def decode_all() -> None:
        assert sum(len(decoder.decode(m).events) for m in batches) == n

    def take_all() -> None:
        assert (
            sum(len(t.events) for m in envelopes for t in take_envelopes(m, {}, decoder, "t")) == n
        )

    # interleaved rounds: on a shared machine a slow spell hits every row of a round alike
    rows: dict[str, list[float]] = {"orjson.loads": [], "Decoder.decode": [], "take.take_all": []}
    fns: dict[str, Callable[[], object]] = {
        "orjson.loads": lambda: [orjson.loads(m) for m in batches],
        "Decoder.decode": decode_all,
        "take.take_all": take_all,
    }
    for _ in range(REPEATS * 3):
        for label, fn in fns.items():
            start = time.perf_counter()
            fn()
            rows[label].append((time.perf_counter() - start) / n * 1e6)
    bare = statistics.median(rows["orjson.loads"])
    print(f"\n{SAMPLE.name}: {n:,} events in 1,000-event messages (median of {REPEATS * 3})")
    for label, times in rows.items():
        median = statistics.median(times)
        print(f"  {label:<18}{median:>8.2f} µs/event{median / bare:>8.2f}x orjson.loads")


if __name__ == "__main__":
    main()
    sample_rows()
