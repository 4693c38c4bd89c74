"""Checkpoint and restore one rollout as JSON-able builtins (orjson-safe).

Everything that can influence a later decision is exported — pending buckets, dedupe keys,
window sums, rule and learner states, the decision sequence and cooldown — in iteration
order, so a restored core continues exactly as the uninterrupted one (same floating-point
sums, same command ids, no repeated decision).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from monitor.core.buckets import Bucket
from monitor.core.model import PlanSet
from monitor.core.rollout import Rollout
from monitor.core.rules import RuleInstance
from monitor.core.scopes import Scope
from monitor.errors import RollguardError
from topics.events import Event

STATE_VERSION: Final = 1


def export_rollout(r: Rollout) -> dict[str, Any]:
    return {
        "state_version": STATE_VERSION,
        "rollout_id": r.rollout_id,
        "plan": r.plan.name,
        "plan_version": r.plan.version,
        "registered_at": r.registered_at,
        "evaluated": r.evaluated,
        "max_ts": r.max_ts,
        "stage_idx": r.stage_idx,
        "stage_started_at": r.stage_started_at,
        "traffic_pct": r.traffic_pct,
        "status": r.status,
        "dry_run": r.dry_run,
        "signoffs": sorted([s, role] for s, role in r.signoffs),
        "counts": dict(r.counts),
        "n_events": r.n_events,
        "leaves": [
            [v, seg, [[s, b.to_state()] for s, b in buckets.items()]]
            for (v, seg), buckets in r.leaves.items()
        ],
        "routes": [[v, seg, [list(t) for t in targets]] for (v, seg), targets in r.routes.items()],
        "scopes": [[v, key, scope.to_state()] for (v, key), scope in r.scopes.items()],
        "pending": [
            [s, [[msgspec.to_builtins(ev), seg] for ev, seg in evs]] for s, evs in r.pending.items()
        ],
        "seen": [[s, [list(k) for k in keys]] for s, keys in r.seen.items()],
        "instances": [[n, seg, inst.to_state()] for (n, seg), inst in r.instances.items()],
        "join": r.join.to_state(),
        "status_trackers": [[v, t.to_state()] for v, t in r.status_trackers.items()],
        "mismatches": r.mismatches,
        "policy": r.policy,
    }


def import_rollout(plans: PlanSet, rollout_id: str, state: dict[str, Any]) -> Rollout:
    if state.get("state_version") != STATE_VERSION:
        raise RollguardError(
            f"rollout {rollout_id}: unknown state version {state.get('state_version')!r}"
        )
    name = state["plan"]
    if name not in plans:
        raise RollguardError(f"rollout {rollout_id}: plan {name!r} is not loaded")
    plan = plans[name]
    r = Rollout(rollout_id, plan, float(state["registered_at"]))
    r.set_evaluated(int(state["evaluated"]))
    r.max_ts = float(state["max_ts"])
    r.stage_idx = min(int(state["stage_idx"]), len(plan.stages) - 1)
    r.stage_started_at = float(state["stage_started_at"])
    r.traffic_pct = state["traffic_pct"]
    r.status = str(state["status"])
    r.dry_run = bool(state["dry_run"])
    r.signoffs = {(s, role) for s, role in state["signoffs"]}
    r.counts.update({k: int(v) for k, v in state["counts"].items()})
    r.n_events = int(state["n_events"])
    r.leaves = {
        (v, seg): {int(s): Bucket.from_state(b) for s, b in buckets}
        for v, seg, buckets in state["leaves"]
    }
    r.scopes = {(v, key): Scope.from_state(s) for v, key, s in state["scopes"]}
    r.routes = {(v, seg): [(a, b) for a, b in targets] for v, seg, targets in state["routes"]}
    r.pending = {
        int(s): [(msgspec.convert(ev, Event), seg) for ev, seg in evs]  # type: ignore[arg-type]
        for s, evs in state["pending"]
    }
    r.seen = {int(s): {tuple(k) for k in keys} for s, keys in state["seen"]}
    rules = {rule.name: rule for rule in plan.all_rules()}
    r.instances = {}
    for name_, seg, inst_state in state["instances"]:
        rule = rules.get(name_)
        if rule is None:
            continue  # the rule left the plan
        inst = RuleInstance(rule, seg)
        inst.load(inst_state)
        r.instances[(name_, seg)] = inst
    for rule in plan.all_rules():
        if not rule.per_segment:
            r.instances.setdefault((rule.name, ""), RuleInstance(rule, ""))
    r.join.load(state["join"])
    for v, t_state in state["status_trackers"]:
        from monitor.core.joins import StatusTracker

        tracker = StatusTracker(plan.status_tolerance_s)
        tracker.load(t_state)
        r.status_trackers[v] = tracker
    r.mismatches = {v: list(objs) for v, objs in state["mismatches"].items()}
    r.policy = dict(state["policy"])
    r.policy["last_decisions"] = list(r.policy["last_decisions"])
    return r
