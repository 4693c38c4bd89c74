"""Scenario helpers: tiny plans written from dicts, and event builders at whole seconds."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from monitor.core import Core, PlanSet, load_plans
from tests.unit.core.schema_agreement import assert_agree
from topics.commands import Command
from topics.events import Event, Metric, Order, Plan, Shadow, Signoff, Status

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
RID = "r1"


def plan_set(
    tmp_path: Path,
    rules: list[dict[str, Any]],
    *,
    stages: list[dict[str, Any]] | None = None,
    **settings: Any,
) -> PlanSet:
    """One plan 'p' (one stage 's1' unless given) gated by ``rules``; lateness 0 by default."""
    plan: dict[str, Any] = {"allowed_lateness": "0s", "cooldown": "1h", "rules": ["set"]}
    plan.update(settings)
    plan["stages"] = stages or [{"name": "s1", "traffic_pct": 5, "min_dwell": "1d"}]
    doc = {"version": 1, "rule_sets": {"set": rules}, "plans": {"p": plan}}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert_agree([path])  # the JSON Schema judges every plan the tests write as check does
    return load_plans([path])


def rule(name: str = "r", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": name,
        "signal": "error_rate",
        "window": "1s",
        "threshold": {"kind": "absolute", "op": ">", "value": 0.1},
        "action": "pause",
    }
    base.update(fields)
    return base


def register(t: float = 0, plan: str = "p", rid: str = RID) -> Plan:
    return Plan(v=1, rollout_id=rid, variant="canary", ts=T0 + t, action="registered", plan=plan)


def orders(
    t: float,
    n: int,
    *,
    variant: Any = "canary",
    errors: int = 0,
    rejects: int = 0,
    latency: float | None = 10.0,
    segment: dict[str, str] | None = None,
    reason: str = "no_liquidity",
    failovers: int = 0,
    pnl: int | None = None,
    rid: str = RID,
    tag: str = "",
) -> list[Event]:
    """``n`` outcomes at ``T0 + t``: ``errors`` timeouts, ``rejects`` rejections, rest filled."""
    out: list[Event] = []
    for i in range(n):
        status: Any = (
            "timed_out" if i < errors else ("rejected" if i < errors + rejects else "filled")
        )
        out.append(
            Order(
                v=1,
                rollout_id=rid,
                variant=variant,
                ts=T0 + t,
                segment=segment,
                corr_id=f"{variant}-{tag}{t}-{i}",
                order_id=f"{variant}-{tag}{t}-{i}",
                status=status,
                error="timeout" if i < errors else None,
                reject_reason=reason if status == "rejected" else None,
                latency_ms=latency,
                failover=i < failovers,
                pnl_minor=pnl if i == 0 else None,
                currency="USD" if pnl is not None and i == 0 else None,
            )
        )
    return out


def shadow(
    t: float, corr: str, *, variant: Any, route: str = "lp1", price: float = 1.1, rid: str = RID
) -> Shadow:
    return Shadow(
        v=1,
        rollout_id=rid,
        variant=variant,
        ts=T0 + t,
        corr_id=corr,
        route=route,
        outcome="accept",
        price=price,
    )


def status(t: float, obj: str, system: str, state: str, rid: str = RID) -> Status:
    return Status(
        v=1, rollout_id=rid, variant="canary", ts=T0 + t, object_id=obj, system=system, state=state
    )


def metric(t: float, name: str, value: float, rid: str = RID) -> Metric:
    return Metric(v=1, rollout_id=rid, variant="canary", ts=T0 + t, name=name, value=value)


def signoff(t: float, stage: str, role: str, rid: str = RID) -> Signoff:
    return Signoff(
        v=1, rollout_id=rid, variant="canary", ts=T0 + t, stage=stage, role=role, by="someone"
    )


def lifecycle(t: float, action: Any, rid: str = RID, **kw: Any) -> Plan:
    return Plan(v=1, rollout_id=rid, variant="canary", ts=T0 + t, action=action, **kw)


class Run:
    """Feed a scenario second by second; record rule states and commands at each second."""

    def __init__(self, plans: PlanSet, **core_kw: Any) -> None:
        self.core = Core(plans, **core_kw)
        self.states: dict[int, dict[str, str]] = {}
        self.commands: list[Command] = []

    def feed(self, per_second: dict[int, Iterable[Event]], until: int, start: int = 0) -> Run:
        """Events of second t, then event time to t + 0.5 (evaluates step t)."""
        if start == 0:
            self.commands += self.core.process([register()])
        for t in range(start, until + 1):
            self.commands += self.core.process(list(per_second.get(t, ())))
            self.commands += self.core.advance_watermark(T0 + t + 0.5)
            self.states[t] = {s.rule: s.state for s in self.core.rule_states()}
        return self

    def state_of(self, name: str) -> dict[int, str]:
        return {t: s.get(name, "-") for t, s in self.states.items()}

    def when(self, action: str) -> list[float]:
        return [c.issued_at - T0 for c in self.commands if c.action == action]


def resumed(plans: PlanSet, events: dict[int, list[Event]], cut: int, until: int) -> Run:
    """The scenario fed to ``cut - 1``, exported, imported into a new core, fed on."""
    first = Run(plans).feed({t: v for t, v in events.items() if t < cut}, until=cut - 1)
    again = Run(plans)
    again.core.import_state(RID, first.core.export_state(RID))
    return again.feed({t: v for t, v in events.items() if t >= cut}, until=until, start=cut)
