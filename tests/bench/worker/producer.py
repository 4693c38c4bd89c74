"""Paced input for the latency bench, in a process of its own.

A producer in the bench's own process competes with it for the event loop and the CPU, and
its queueing shows up as the worker's latency. This one builds every message before timing
(test-core input, ``flapping_events``, in envelopes of ``batch`` events under one key, or one
event per message keyed by rollout when ``batch`` is 1), prints ``ready``, waits for a line
on stdin, then sends message ``i`` at ``i * batch / rate`` seconds (never before), stamping
the wall time of each ``send`` call. It also sends a small probe every ``PROBE_EVERY_S`` to
``probe_topic`` carrying its own send time: the reference hop (produce → consume on the same
broker, same client settings, same moment).

    python -m tests.bench.worker.producer BOOTSTRAP TOPIC PROBE_TOPIC RATE SECONDS BATCH \
        ROLLOUTS OUT [MESSAGES]

``MESSAGES``: a file of messages to send instead, written by
:func:`tests.bench.worker.product_stream.write_messages` (the product Core's input, signed
by the bench process, whose keys the worker trusts).

Writes the send times (float64, one per message, in order) to ``OUT`` and prints one JSON
line: messages and events sent, seconds taken, achieved events/s, lag behind schedule.
"""

from __future__ import annotations

import asyncio
import sys
import time
from array import array
from itertools import islice
from pathlib import Path

import orjson

from tests.bench.worker.common import flapping_events
from tests.bench.worker.product_stream import read_messages
from topics.codec import encode_batch, encode_event

LINGER_MS = 2  # a little batching of the ~10 kB envelopes; at most 2 ms added per event
PROBE_EVERY_S = 0.02


def build(
    rate: float, seconds: float, batch: int, rollouts: int, given: str = ""
) -> list[tuple[bytes, bytes]]:
    count = int(rate * seconds / batch) + 1
    if given:
        return read_messages(Path(given))[:count]
    events = flapping_events(rollouts)
    if batch == 1:
        return [(e.rollout_id.encode(), encode_event(e)) for e in islice(events, count)]
    return [(b"load", encode_batch(list(islice(events, batch)))) for _ in range(count)]


async def run(
    bootstrap: str,
    topic: str,
    probe_topic: str,
    rate: float,
    seconds: float,
    batch: int,
    messages: list[tuple[bytes, bytes]],
) -> tuple[array[float], float, float]:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks=1, linger_ms=LINGER_MS, max_batch_size=1 << 20
    )
    await producer.start()
    sent = array("d")
    lag = 0.0
    done = asyncio.Event()

    async def probes() -> None:
        while not done.is_set():
            await producer.send(probe_topic, orjson.dumps(time.time()))
            await asyncio.sleep(PROBE_EVERY_S)

    try:
        prober = asyncio.create_task(probes())
        interval = batch / rate
        started = time.perf_counter()
        for i, (key, value) in enumerate(messages):
            due = started + i * interval
            now = time.perf_counter()
            if due - started >= seconds:
                break
            if now < due:
                await asyncio.sleep(due - now)
            else:  # behind: still let the producer's sender task run
                lag = max(lag, now - due)
                await asyncio.sleep(0)
            sent.append(time.time())
            await producer.send(topic, value, key=key)
        elapsed = max(time.perf_counter() - started, seconds)
        done.set()
        await prober
        await producer.flush()
    finally:
        await producer.stop()
    return sent, elapsed, lag


def main() -> None:
    bootstrap, topic, probe_topic, rate_s, seconds_s, batch_s, rollouts_s, out = sys.argv[1:9]
    given = sys.argv[9] if len(sys.argv) > 9 else ""
    rate, seconds, batch = float(rate_s), float(seconds_s), int(batch_s)
    messages = build(rate, seconds, batch, int(rollouts_s), given)
    print("ready", flush=True)
    sys.stdin.readline()
    sent, elapsed, lag = asyncio.run(
        run(bootstrap, topic, probe_topic, rate, seconds, batch, messages)
    )
    with open(out, "wb") as f:
        sent.tofile(f)
    summary = {
        "messages": len(sent),
        "events": len(sent) * batch,
        "seconds": elapsed,
        "rate": len(sent) * batch / elapsed,
        "max_lag_s": lag,
    }
    print(orjson.dumps(summary).decode(), flush=True)


if __name__ == "__main__":
    main()
