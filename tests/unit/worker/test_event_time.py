"""One event stamped ahead of the wall clock must not blind a rollout (docs/event-time.md).

The example broker plan's rollout regresses at second 60 and is rolled back; played as if
live, one event stamped ahead moves its watermark, and every on-time event after it is late.
"""

from __future__ import annotations

import time

import msgspec
import pytest

from monitor.core import Core, load_plans
from tests.integration.worker.support import PLANS, broker_scenario
from topics.codec import Decoder, encode_event
from topics.events import Event


@pytest.fixture(scope="module")
def live() -> list[Event]:
    events = broker_scenario({"ra": 60.0}, seconds=200)
    shift = time.time() - events[-1].ts  # the last event is now
    return [msgspec.structs.replace(e, ts=e.ts + shift) for e in events]


def run(events: list[Event], ahead: float, decoder: Decoder | None) -> tuple[list[str], int]:
    """Decisions and late events when event ``len // 4`` is sent again, stamped ``ahead``
    seconds early; with ``decoder``, each event is judged against a clock that reads the
    time it was really made (honest events arrive as they are stamped)."""
    i = len(events) // 4
    stamped = msgspec.structs.replace(events[i], ts=events[i].ts + ahead)
    arriving = [(e, e.ts) for e in events]
    arriving.insert(i, (stamped, events[i].ts))
    if decoder is not None:
        arriving = [
            (e, now) for e, now in arriving if decoder.decode(encode_event(e), now=now).events
        ]
    core = Core(load_plans([str(p) for p in PLANS]))
    return [c.action for c in core.process([e for e, _ in arriving])], core.counters()["late"]


@pytest.mark.parametrize("ahead", [299.0, 23 * 3_600.0])
def test_one_event_ahead_blinds_a_rollout_without_the_clock_bound(
    live: list[Event], ahead: float
) -> None:
    assert run(live, 0.0, None) == (["rollback"], 0)
    actions, late = run(live, ahead, None)
    assert actions != ["rollback"] and late > 10_000  # every event after it


@pytest.mark.parametrize("ahead", [2.5, 299.0, 23 * 3_600.0])
def test_the_default_bound_dead_letters_it_and_the_rollback_stands(
    live: list[Event], ahead: float
) -> None:
    assert run(live, ahead, Decoder()) == (["rollback"], 0)


def test_within_the_bound_nothing_is_late(live: list[Event]) -> None:
    assert run(live, 2.0, None) == (["rollback"], 0)
