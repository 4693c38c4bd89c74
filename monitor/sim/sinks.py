"""Where a simulated stream goes: a JSONL file, or a Kafka topic at a controlled pace.

Pacing is the only place the simulator reads the wall clock. ``speed`` replays event time
``speed`` times faster than real time (a 20-minute scenario in 1 minute at ``speed=20``);
``rate`` caps events per second. Both may be combined; neither changes the events.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any, Final

import msgspec

from monitor.sim.generate import Simulation
from topics.codec import encode_batch
from topics.control_plane import sign_event
from topics.events import Event, Plan, Signoff
from topics.keys import SigningKey

_ENCODER: Final = msgspec.json.Encoder()


def write_jsonl(slices: Iterable[list[Event]], out: IO[bytes]) -> int:
    """Write every event as one JSON line; return how many."""
    n = 0
    for batch in slices:
        if batch:
            out.write(_ENCODER.encode_lines(batch))
            n += len(batch)
    return n


def anchored_start(duration_s: float, speed: float | None, now: float) -> float:
    """Event time of the first event so that a paced replay ends at wall-clock ``now``-ish.

    In real time (speed 1 or None) the stream starts now. Compressed, event time runs ahead
    of the wall clock, so the stream is shifted into the past by the time it gains: every
    event stays at or behind the wall clock (workers refuse events far in the future) and the
    last one is about now when it is sent.

    >>> anchored_start(1200.0, None, 1_000_000.0)
    1000000.0
    >>> anchored_start(1200.0, 20.0, 1_000_000.0)
    998860.0
    """
    if speed is None or speed <= 1.0:
        return now
    return now - duration_s * (1.0 - 1.0 / speed)


class Pacer:
    """Sleep so that event time advances ``speed``x wall time and at most ``rate`` ev/s."""

    def __init__(
        self,
        *,
        speed: float | None = None,
        rate: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be > 0")
        if rate is not None and rate <= 0:
            raise ValueError("rate must be > 0")
        self.speed = speed
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._wall0: float | None = None
        self._ts0: float | None = None
        self._sent = 0

    def wait(self, event_ts: float, count: int) -> None:
        """Block until ``count`` more events up to ``event_ts`` may be sent."""
        now = self._clock()
        if self._wall0 is None:
            self._wall0, self._ts0 = now, event_ts
        assert self._ts0 is not None
        due = self._wall0
        if self.speed is not None:
            due = max(due, self._wall0 + (event_ts - self._ts0) / self.speed)
        if self.rate is not None:
            due = max(due, self._wall0 + (self._sent + count) / self.rate)
        if due > now:
            self._sleep(due - now)
        self._sent += count


@dataclass
class ProduceStats:
    events: int = 0
    messages: int = 0
    seconds: float = 0.0

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def produce(
    sim: Simulation,
    producer: Any,
    topic: str,
    *,
    pacer: Pacer | None = None,
    batch: int = 0,
    on_slice: Callable[[Simulation, list[Event]], None] | None = None,
    producer_name: str = "rollguard-sim",
    signer: SigningKey | None = None,
) -> ProduceStats:
    """Send the simulation to ``topic`` with a kafka-python compatible ``producer``.

    ``batch`` 0 sends one event per message; N > 0 sends batch envelopes of up to N events
    of one rollout each. Messages are keyed by rollout id. ``on_slice`` runs after each
    slice is sent (e.g. to move traffic when the orchestrator would: ``sim.set_traffic``).
    ``signer``: the operator key that signs the stream's plan and sign-off events (workers
    dead-letter them unsigned); ``on_slice`` still sees the events as simulated.
    """
    stats = ProduceStats()
    started = time.monotonic()
    for events in sim.slices():
        if not events:
            continue
        if pacer is not None:
            # pace per sub-slice so a big slice does not go out as one burst
            step = max(1, len(events) // 10)
            for i in range(0, len(events), step):
                part = events[i : i + step]
                pacer.wait(part[-1].ts, len(part))
                stats.messages += _send(producer, topic, signed(part, signer), batch, producer_name)
        else:
            stats.messages += _send(producer, topic, signed(events, signer), batch, producer_name)
        stats.events += len(events)
        if on_slice is not None:
            on_slice(sim, events)
    producer.flush()
    stats.seconds = time.monotonic() - started
    return stats


def signed(events: list[Event], signer: SigningKey | None) -> list[Event]:
    """``events`` with each control-plane event signed by ``signer`` (None: as they are)."""
    if signer is None:
        return events
    return [sign_event(e, signer) if isinstance(e, Plan | Signoff) else e for e in events]


def _send(producer: Any, topic: str, events: list[Event], batch: int, name: str) -> int:
    if batch <= 0:
        for ev in events:
            producer.send(topic, key=ev.rollout_id.encode(), value=_ENCODER.encode(ev))
        return len(events)
    by_rollout: dict[str, list[Event]] = defaultdict(list)
    for ev in events:
        by_rollout[ev.rollout_id].append(ev)
    sent = 0
    for rollout_id, evs in by_rollout.items():
        for i in range(0, len(evs), batch):
            body = encode_batch(evs[i : i + batch], producer=name)
            producer.send(topic, key=rollout_id.encode(), value=body)
            sent += 1
    return sent


def kafka_producer(bootstrap: str, *, linger_ms: int = 20, batch_bytes: int = 512 * 1024) -> Any:
    """A kafka-python producer tuned for throughput (lingers and batches, acks=1)."""
    from kafka import KafkaProducer

    return KafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=linger_ms,
        batch_size=batch_bytes,
        acks=1,
        max_request_size=4 * 1024 * 1024,
        client_id="rollguard-sim",
    )
