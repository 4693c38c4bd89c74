"""A small test-only core implementing ``CoreProtocol``: one threshold rule, exact ids.

Rule: the canary's ``error_rate`` metric above ``THRESHOLD`` continuously for ``FOR_S`` of
event time → ``pause``; below it again for ``FOR_S`` → ``proceed``. A ``Silence`` event →
``freeze``. Every command's reason names how many events the rollout had seen, so a worker
that applied an event twice, or skipped one, publishes a different content under the same id
(which the integration tests catch).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from monitor.core.api import Gauge, RuleStateSample
from topics.commands import Command, Evidence, command_id
from topics.events import Event, Metric, Silence

THRESHOLD = 0.05
FOR_S = 5.0
RULE_SET_VERSION = "threshold-test-1"
STAGE = "canary-5"


def _fresh() -> dict[str, Any]:
    return {
        "n": 0,
        "above_since": None,
        "below_since": None,
        "firing": False,
        "seq": 0,
        "last_value": None,
        "decisions": [],
    }


class ThresholdCore:
    def __init__(self, *, command_ttl_s: float = 300.0, monitor_version: str = "test") -> None:
        self._ttl = command_ttl_s
        self._version = monitor_version
        self._rollouts: dict[str, dict[str, Any]] = {}

    def process(self, events: Sequence[Event]) -> list[Command]:
        out: list[Command] = []
        for event in events:
            state = self._rollouts.get(event.rollout_id)
            if state is None:
                state = self._rollouts[event.rollout_id] = _fresh()
            state["n"] += 1
            if isinstance(event, Silence):
                out.append(self._decide(event.rollout_id, state, "freeze", event.ts, 0.0))
            elif (
                isinstance(event, Metric)
                and event.variant == "canary"
                and event.name == ("error_rate")
            ):
                out.extend(self._step(event, state))
        return out

    def _step(self, event: Metric, state: dict[str, Any]) -> list[Command]:
        state["last_value"] = event.value
        if event.value > THRESHOLD:
            state["below_since"] = None
            if state["above_since"] is None:
                state["above_since"] = event.ts
            if not state["firing"] and event.ts - state["above_since"] >= FOR_S:
                state["firing"] = True
                return [self._decide(event.rollout_id, state, "pause", event.ts, event.value)]
        else:
            state["above_since"] = None
            if state["below_since"] is None:
                state["below_since"] = event.ts
            if state["firing"] and event.ts - state["below_since"] >= FOR_S:
                state["firing"] = False
                return [self._decide(event.rollout_id, state, "proceed", event.ts, event.value)]
        return []

    def _decide(
        self, rollout_id: str, state: dict[str, Any], action: str, ts: float, value: float
    ) -> Command:
        seq = state["seq"]
        state["seq"] += 1
        command = Command(
            v=1,
            command_id=command_id(rollout_id, STAGE, RULE_SET_VERSION, action, seq),
            rollout_id=rollout_id,
            stage=STAGE,
            action=action,  # type: ignore[arg-type]
            reason=f"{action}: error_rate {value:.4f} vs {THRESHOLD} (event #{state['n']})",
            rule="error_rate_high",
            evidence=[
                Evidence(
                    rule="error_rate_high",
                    signal="error_rate",
                    variant="canary",
                    observed=value,
                    threshold=THRESHOLD,
                    for_s=FOR_S,
                    samples=state["n"],
                )
            ],
            seq=seq,
            rule_set_version=RULE_SET_VERSION,
            issued_at=ts,
            expires_at=ts + self._ttl,
            monitor_version=self._version,
        )
        state["decisions"] = [
            *state["decisions"][-4:],
            {"id": command.command_id, "action": action},
        ]
        return command

    def rollouts(self) -> list[str]:
        return sorted(self._rollouts)

    def export_state(self, rollout_id: str) -> dict[str, Any]:
        return dict(self._rollouts[rollout_id])

    def import_state(self, rollout_id: str, state: dict[str, Any]) -> None:
        self._rollouts[rollout_id] = dict(state)

    def forget(self, rollout_id: str) -> None:
        self._rollouts.pop(rollout_id, None)

    def view(self, rollout_id: str) -> dict[str, Any] | None:
        state = self._rollouts.get(rollout_id)
        if state is None:
            return None
        return {
            "rollout_id": rollout_id,
            "stage": STAGE,
            "verdict": "pause" if state["firing"] else "proceed",
            "firing": ["error_rate_high"] if state["firing"] else [],
            "events": state["n"],
            "last_decisions": state["decisions"],
        }

    def gauges(self) -> Iterable[Gauge]:
        for rid, state in self._rollouts.items():
            if state["last_value"] is not None:
                yield Gauge(rid, "error_rate", "canary", "", float(state["last_value"]))

    def rule_states(self) -> Iterable[RuleStateSample]:
        for rid, state in self._rollouts.items():
            if state["firing"]:
                label = "firing"
            elif state["above_since"] is not None:
                label = "pending"
            else:
                label = "inactive"
            yield RuleStateSample(rid, "error_rate_high", label)


def build_core(settings: Any) -> ThresholdCore:
    """``--core-factory tests.integration.worker.threshold_core:build_core``."""
    return ThresholdCore(
        command_ttl_s=settings.command_ttl_s, monitor_version=settings.monitor_version
    )
