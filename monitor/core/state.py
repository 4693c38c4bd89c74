"""Checkpoint and restore one rollout as JSON-able builtins (orjson-safe).

Everything that can influence a later decision is exported — pending buckets, dedupe keys,
window sums, rule and learner states, the decision sequence and cooldown — in iteration
order, so a restored core continues exactly as the uninterrupted one (same floating-point
sums, same command ids, no repeated decision). The format is :class:`RolloutSnapshot`
(version :data:`STATE_VERSION`); older versions are migrated (:mod:`monitor.core.migrate`).
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from monitor.core.buckets import Bucket
from monitor.core.joins import StatusTracker
from monitor.core.migrate import upgrade
from monitor.core.model import PlanSet
from monitor.core.rollout import Rollout
from monitor.core.rules import RuleInstance
from monitor.core.scopes import Scope
from monitor.core.snapshot import STATE_VERSION, RolloutSnapshot
from topics.errors import RollguardError
from topics.status import Status

__all__ = ["STATE_VERSION", "export_rollout", "import_rollout"]


def export_rollout(r: Rollout) -> dict[str, object]:
    snap = RolloutSnapshot(
        state_version=STATE_VERSION,
        rollout_id=r.rollout_id,
        plan=r.plan.name,
        plan_version=r.plan.version,
        registered_at=r.registered_at,
        evaluated=r.evaluated,
        max_ts=r.max_ts,
        stage_idx=r.stage_idx,
        stage_started_at=r.stage_started_at,
        traffic_pct=r.traffic_pct,
        status=r.status.value,
        dry_run=r.dry_run,
        signoffs=sorted(r.signoffs),
        counts=dict(r.counts),
        n_events=r.n_events,
        leaves=[
            (v, seg, [(s, b.to_state()) for s, b in buckets.items()])
            for (v, seg), buckets in r.leaves.items()
        ],
        routes=[(v, seg, list(targets)) for (v, seg), targets in r.routes.items()],
        scopes=[(v, key, scope.to_state()) for (v, key), scope in r.scopes.items()],
        pending=list(r.pending.items()),
        # sorted: a set's order follows the process's string hashes, a checkpoint must not
        seen=[(s, sorted((list(k) for k in keys), key=repr)) for s, keys in r.seen.items()],
        rules=[inst.snapshot() for inst in r.instances.values()],
        join=r.join.to_state(),
        status_trackers=[(v, t.to_state()) for v, t in r.status_trackers.items()],
        mismatches=r.mismatches,
        policy=r.policy,
    )
    state: dict[str, object] = msgspec.to_builtins(snap)
    return state


def import_rollout(plans: PlanSet, rollout_id: str, state: Mapping[str, object]) -> Rollout:
    try:
        snap = msgspec.convert(upgrade(rollout_id, state), RolloutSnapshot)
    except msgspec.ValidationError as exc:
        raise RollguardError(f"rollout {rollout_id}: unreadable checkpoint: {exc}") from None
    if snap.plan not in plans:
        raise RollguardError(f"rollout {rollout_id}: plan {snap.plan!r} is not loaded")
    plan = plans[snap.plan]
    r = Rollout(rollout_id, plan, snap.registered_at)
    r.set_evaluated(snap.evaluated)
    r.max_ts = snap.max_ts
    r.stage_idx = min(snap.stage_idx, len(plan.stages) - 1)
    r.stage_started_at = snap.stage_started_at
    r.traffic_pct = snap.traffic_pct
    r.status = Status(snap.status)
    r.dry_run = snap.dry_run
    r.signoffs = set(snap.signoffs)
    r.counts.update(snap.counts)
    r.n_events = snap.n_events
    r.leaves = {
        (v, seg): {s: Bucket.from_state(b) for s, b in buckets} for v, seg, buckets in snap.leaves
    }
    r.scopes = {(v, key): Scope.from_state(s) for v, key, s in snap.scopes}
    for (v, key), scope in r.scopes.items():  # rules may have changed since the checkpoint
        kind = (v, key if not key or key.startswith("~") else "*")
        scope.reconcile(r.needs.get(kind, {}), snap.evaluated)
    r.routes = {(v, seg): list(targets) for v, seg, targets in snap.routes}
    r.pending = dict(snap.pending)
    r.seen = {s: {tuple(k) for k in keys} for s, keys in snap.seen}
    rules = {rule.name: rule for rule in plan.all_rules()}
    r.instances = {}
    for saved in snap.rules:
        rule = rules.get(saved.rule)
        if rule is None:
            continue  # the rule left the plan
        inst = RuleInstance(rule, saved.segment)
        inst.restore(saved)
        r.instances[(saved.rule, saved.segment)] = inst
    for rule in plan.all_rules():
        if not rule.per_segment:
            r.instances.setdefault((rule.name, ""), RuleInstance(rule, ""))
    r.join.load(snap.join)
    for v, t_state in snap.status_trackers:
        tracker = StatusTracker(plan.status_tolerance_s)
        tracker.load(t_state)
        r.status_trackers[v] = tracker
    r.mismatches = {v: list(objs) for v, objs in snap.mismatches.items()}
    r.policy = snap.policy
    return r
