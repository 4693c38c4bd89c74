"""The latency bench's product mode names, for each product decision, the event whose
arrival made it possible (``tests.bench.worker.product_stream.Decisive``): checked against
the core itself, fed the bench's stream one event at a time."""

from __future__ import annotations

from monitor.core import Core, load_plans
from tests.bench.worker.product_stream import Decisive, product_events
from tests.integration.worker.support import PLANS


def test_each_command_comes_with_the_event_named_decisive() -> None:
    events = product_events(3)
    decisive = Decisive(events)
    core = Core(load_plans(PLANS))
    made_at = [
        (index, command) for index, event in enumerate(events) for command in core.process([event])
    ]
    assert [c.action for _, c in made_at] == ["rollback"] * 3  # one per rollout, in turn
    assert [decisive(c) for _, c in made_at] == [index for index, _ in made_at]
