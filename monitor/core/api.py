"""The contract between the pure core and everything that drives it.

Workers (``monitor/worker/app.py``), ``rollguard replay``, the simulator's benchmarks and the tests
all drive the core through this protocol, so there is exactly one implementation of every
rule. The core takes time only from events; it never reads the wall clock and does no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple, Protocol

from topics.commands import Command
from topics.events import Event


class Gauge(NamedTuple):
    """One current value of a gating signal, for Prometheus (bounded label set)."""

    rollout_id: str
    signal: str
    variant: str
    segment: str  # "" for the whole rollout, else "k=v,k=v" sorted
    value: float


class RuleStateSample(NamedTuple):
    rollout_id: str
    rule: str
    state: str  # inactive | pending | firing


class ThresholdSample(NamedTuple):
    """Current absolute threshold of a rule (relative thresholds resolved now).

    Defined here, with the rest of the core's contract, and used by ``monitor.worker.metrics``.
    """

    rollout_id: str
    rule: str
    signal: str
    value: float


class BandSample(NamedTuple):
    """Learned normal band of a signal on one variant and segment."""

    rollout_id: str
    signal: str
    variant: str
    segment: str
    lower: float
    upper: float


class CoreProtocol(Protocol):
    def process(self, events: Sequence[Event]) -> list[Command]:
        """Apply events (any rollouts, in arrival order); return new unsigned commands.

        Commands are deterministic: the same events in the same order give the same
        commands with the same ``command_id``s, also after ``export_state`` /
        ``import_state`` at any point in between.
        """
        ...

    def rollouts(self) -> list[str]: ...

    def export_state(self, rollout_id: str) -> dict[str, object]:
        """JSON-able state of one rollout (orjson-serialisable builtins only)."""
        ...

    def import_state(self, rollout_id: str, state: Mapping[str, object]) -> None: ...

    def forget(self, rollout_id: str) -> None: ...

    def view(self, rollout_id: str) -> dict[str, object] | None:
        """JSON-able summary: stage, traffic, rule states, firing rules, last decisions."""
        ...

    def gauges(self) -> Iterable[Gauge]: ...

    def rule_states(self) -> Iterable[RuleStateSample]: ...
