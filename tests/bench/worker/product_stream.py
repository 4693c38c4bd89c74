"""The latency bench's input for the product ``Core`` (``CORE=product``), and which event
made each of its decisions possible.

The example broker plan's synthetic order flow (``monitor.sim.synthetic``, ~80 events per
rollout and second of event time) for ``rollouts`` rollouts interleaved in event-time order,
each canary regressing at its own moment, so their rollbacks come one after another through
the run rather than all at once. Plan and sign-off events are signed by the test operators.

A product decision is made at a step, not by one event: step ``k`` of a rollout is
evaluated once its watermark (newest event time minus the allowed lateness) passes
``k × resolution``, and the commands it gives carry that step's time as ``issued_at``. The
event that made a command possible is therefore the first of its rollout, in the order
sent, whose time passes ``issued_at + allowed_lateness``: the decision's latency runs from
that event's send. (A rollout's events are sent in its own order, all on one partition.)

The test keys are fresh in every process, so the bench process (whose keys the worker
trusts) signs and encodes the messages, and the producer process reads them from a file
(:func:`write_messages`, :func:`read_messages`).
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right
from itertools import accumulate
from pathlib import Path

import msgspec

from monitor.core import load_plans
from monitor.core.timebase import to_us
from monitor.sim.synthetic import StreamSpec, generate
from tests.integration.worker.support import PLANS
from tests.keys import operator_signed
from topics.codec import encode_batch, encode_event
from topics.commands import Command
from topics.events import Event

PLAN = "bridge-routing-v2"
EVENT_SECONDS = 240
"""Event time each rollout's stream lasts (more than a run at the rollouts' count covers)."""
COVER_S = 150.0
"""Event time a paced run should cover: :func:`rollouts_for` picks the count from it."""
REGRESS_FROM_S, REGRESS_TO_S = 10.0, 100.0
"""Rollout i of n regresses at an even share of this span (rolled back ~45 s later)."""
EVENTS_PER_S = 80.0
"""Events per rollout and second of event time (the synthetic flow's default rates)."""


def product_events(rollouts: int) -> list[Event]:
    """The stream, signed, in the order it is sent."""
    span = REGRESS_TO_S - REGRESS_FROM_S
    streams = [
        generate(
            StreamSpec(
                rollout_id=f"p{i}",
                plan=PLAN,
                seconds=EVENT_SECONDS,
                regress_at=REGRESS_FROM_S + span * i / max(1, rollouts - 1),
                seed=i + 1,
            )
        )
        for i in range(rollouts)
    ]
    return operator_signed(list(heapq.merge(*streams, key=lambda e: e.ts)))


def rollouts_for(rate: float, seconds: float) -> int:
    """Rollouts whose streams, sent at ``rate`` for ``seconds``, cover :data:`COVER_S` of
    event time: every rollout regresses and is rolled back during the run."""
    return max(2, math.ceil(rate * seconds / (EVENTS_PER_S * COVER_S)))


class Decisive:
    """Index, in the sent stream ``events``, of the event that made a command possible."""

    def __init__(self, events: list[Event]) -> None:
        plan = load_plans(PLANS)[PLAN]
        self.lateness_us = to_us(plan.allowed_lateness_s)
        stamps: dict[str, list[int]] = {}
        self.places: dict[str, list[int]] = {}
        for index, event in enumerate(events):
            stamps.setdefault(event.rollout_id, []).append(to_us(event.ts))
            self.places.setdefault(event.rollout_id, []).append(index)
        # the watermark follows the newest event so far: a running maximum
        self.newest = {rid: list(accumulate(ts, max)) for rid, ts in stamps.items()}

    def __call__(self, command: Command) -> int | None:
        newest = self.newest.get(command.rollout_id)
        if newest is None:
            return None
        first = bisect_right(newest, to_us(command.issued_at) + self.lateness_us)
        places = self.places[command.rollout_id]
        return places[first] if first < len(places) else None


def write_messages(events: list[Event], batch: int, path: Path) -> None:
    """``events`` as the producer sends them: envelopes of ``batch`` under one key (the
    shape the worker's maximum is measured over), or one per message keyed by rollout."""
    if batch == 1:
        messages = [(e.rollout_id.encode(), encode_event(e)) for e in events]
    else:
        messages = [
            (b"load", encode_batch(events[i : i + batch])) for i in range(0, len(events), batch)
        ]
    path.write_bytes(msgspec.msgpack.encode(messages))


def read_messages(path: Path) -> list[tuple[bytes, bytes]]:
    return msgspec.msgpack.decode(path.read_bytes(), type=list[tuple[bytes, bytes]])
