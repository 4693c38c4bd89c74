"""Did the demo do what it promised? Each rollout's decisions against its ground truth."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.demo.control import Seen
from topics.commands import Command

STOPPING = frozenset({"halt", "rollback", "freeze", "pause", "reduce_scope"})
ALL_STAGES = ("canary-1", "canary-5", "canary-20", "canary-50", "full")


@dataclass(frozen=True)
class Outcome:
    rollout_id: str
    expected: str
    observed: str
    ok: bool


def _verified(decisions: list[Seen], rollout_id: str) -> list[Command]:
    return [
        s.command
        for s in decisions
        if s.command.rollout_id == rollout_id and s.status.startswith("ok")
    ]


def _describe(commands: list[Command]) -> str:
    if not commands:
        return "no decision"
    return ", ".join(f"{c.action}@{c.stage}" for c in commands)


def judge(
    decisions: list[Seen], timeline: dict[str, float], start_ts: float, prefix: str
) -> list[Outcome]:
    healthy = _verified(decisions, f"{prefix}-healthy")
    promoted = {c.stage for c in healthy if c.action == "promote"}
    healthy_ok = promoted >= set(ALL_STAGES) and not any(c.action in STOPPING for c in healthy)

    latency = _verified(decisions, f"{prefix}-latency")
    onset = start_ts + timeline["regression_at_s"]
    blip = start_ts + timeline["blip_at_s"]
    rollbacks = [c for c in latency if c.action == "rollback"]
    acted_on_blip = [c for c in latency if c.action in STOPPING and blip <= c.issued_at < onset]
    latency_ok = bool(rollbacks) and rollbacks[0].issued_at >= onset and not acted_on_blip

    shadow = _verified(decisions, f"{prefix}-shadow")
    freezes = [c for c in shadow if c.action == "freeze"]
    shadow_onset = start_ts + timeline["shadow_at_s"]
    shadow_ok = bool(freezes) and freezes[0].issued_at >= shadow_onset and freezes[0].advisory
    shadow_ok = shadow_ok and not any(c.action in STOPPING - {"freeze"} for c in shadow)

    def after(commands: list[Command], at: float) -> str:
        return f" ({commands[0].issued_at - at:.0f} s after onset)" if commands else ""

    return [
        Outcome(
            f"{prefix}-healthy",
            "promoted through all 5 stages, never stopped",
            _describe(healthy),
            healthy_ok,
        ),
        Outcome(
            f"{prefix}-latency",
            "blip ignored, sustained regression rolled back",
            _describe(latency) + after(rollbacks, onset),
            latency_ok,
        ),
        Outcome(
            f"{prefix}-shadow",
            "shadow mismatch frozen (advisory)",
            _describe(shadow) + after(freezes, shadow_onset),
            shadow_ok,
        ),
    ]
