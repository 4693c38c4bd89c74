"""Decision policy: from firing rules and stage gates to at most a few commands per step.

* The strongest firing action wins: halt > rollback > freeze > pause > reduce_scope > hold;
  promotion is considered only when nothing live is firing.
* Dedupe and cooldown: an action stronger than the last one is sent at once; the same or a
  weaker one only after ``cooldown`` and only while the rollout is running (a paused or
  frozen rollout waits for a human ``resumed``).
* Effects, applied by the core itself: halt / rollback make the rollout terminal; freeze /
  pause block promotion until resumed; reduce_scope steps back one stage; promote moves to
  the next stage (after the last one the rollout is completed).
* Promotion needs min dwell, min samples, every gating rule healthy (evaluated with enough
  data, not pending, not firing) and the stage's sign-offs. A stage that reaches its time
  box without that verdict gets one ``hold`` marked inconclusive and waits for a human.
* Attribution: a decision on a rule over a whole variant's rate also names the segments
  driving it (:func:`drill_down`), so a regression confined to one segment is attributed
  even when the aggregate rule decides first and the per-segment rule's same action is
  deduplicated.
* Dry-run rules send one advisory command per firing episode; in a dry-run rollout every
  command is advisory (the core still follows its own advice, to show the whole path).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import msgspec

from detectors import msprt_two_proportions
from monitor.core import signals
from monitor.core.alerting import FIRING
from monitor.core.explain import ARROW, decision_reason, driver_text, explain_rule
from monitor.core.rollout import Rollout, parse_segment_key
from monitor.core.rules import RuleInstance, finite
from monitor.core.scopes import Scope
from monitor.core.timebase import Micros, to_s, to_us
from monitor.core.wording import span
from topics.commands import ACTION_PRECEDENCE, Action, Command, Evidence, command_id
from topics.status import TERMINAL, Status

RANK: Final = {a: i for i, a in enumerate(ACTION_PRECEDENCE)}
LAST_DECISIONS: Final = 10
DRILL_DOWN_ALPHA: Final = 0.001
"""A segment is named as driving an aggregate rate rule when its rate differs from the rest
of the variant's segments in the rule's direction with an e-value of at least 1/alpha."""


@dataclass(frozen=True, slots=True)
class Issuer:
    """Fields every command of one core carries."""

    monitor_version: str
    command_ttl_s: float


def decide(r: Rollout, step: int, issuer: Issuer) -> list[Command]:
    """Commands of one evaluated step (usually none)."""
    now = r.step_time(step)
    ts = to_s(now)
    out: list[Command] = []
    insts = r.stage_rules()
    for inst in insts:
        if inst.rule.dry_run and inst.alert.state == FIRING and not inst.advised:
            inst.advised = True
            prefix = "dry-run rule (advisory): "
            out.append(_emit(r, issuer, inst.rule.action, ts, step, [inst], True, prefix=prefix))
    if r.status in TERMINAL:
        return out
    live = [i for i in insts if not i.rule.dry_run and i.alert.state == FIRING]
    if live:
        action = min((i.rule.action for i in live), key=RANK.__getitem__)
        cause = [i for i in live if i.rule.action == action]
        last, last_ts = r.policy.last_action, r.policy.last_ts
        stronger = last is None or RANK[action] < RANK[last]
        cooled = last_ts is None or now - last_ts >= to_us(r.plan.cooldown_s)
        if stronger or (cooled and r.status == Status.RUNNING):
            out.append(_emit(r, issuer, action, ts, step, cause, r.dry_run))
            r.acted(action, now)
        return out
    if r.status != Status.RUNNING:
        return out
    stage = r.plan.stages[r.stage_idx]
    missing = promotion_gaps(r, now)
    if not missing:
        final = r.stage_idx + 1 >= len(r.plan.stages)
        where = (
            "promote: rollout complete"
            if final
            else (f"promote to {r.plan.stages[r.stage_idx + 1].name}")
        )
        dwell, samples = to_s(now - r.stage_started_at), r.stage_samples()
        signed = f", signed off by {', '.join(stage.signoffs)}" if stage.signoffs else ""
        reason = (
            f"stage {stage.name} passed after {span(dwell)} (rule: {span(stage.min_dwell_s)}) "
            f"with {samples:,.0f} samples (rule: {stage.min_samples:,}), all {len(insts)} "
            f"rules healthy{signed} {ARROW} {where}\n"
            f"dwell {dwell:.0f}s >= {stage.min_dwell_s:g}s, samples {samples:.0f} >= "
            f"{stage.min_samples}, rules healthy {len(insts)}/{len(insts)}"
        )
        healthy = [i for i in insts if not i.rule.dry_run]
        out.append(_emit(r, issuer, "promote", ts, step, healthy, r.dry_run, reason=reason))
        r.acted("promote", now)
        return out
    box = stage.max_duration_s
    if box is not None and now - r.stage_started_at >= to_us(box) and not r.policy.timebox_done:
        unknown = [i for i in insts if not i.rule.dry_run and not i.healthy]
        reason = (
            f"inconclusive: stage {stage.name} reached its time box ({span(box)}) without a "
            f"verdict; still missing: {', '.join(missing)} {ARROW} hold until a human decides"
            f"\ntime box {box:.0f}s, missing: {'; '.join(missing)}"
        )
        out.append(_emit(r, issuer, "hold", ts, step, unknown, r.dry_run, reason=reason))
        r.hold_inconclusive()
    return out


def promotion_gaps(r: Rollout, now: Micros) -> list[str]:
    """What still stands between the current stage and promotion (empty: promote)."""
    stage = r.plan.stages[r.stage_idx]
    gaps: list[str] = []
    dwell = to_s(now - r.stage_started_at)
    if now - r.stage_started_at < to_us(stage.min_dwell_s):
        gaps.append(f"dwell {dwell:.0f}/{stage.min_dwell_s:.0f}s")
    samples = r.stage_samples()
    if samples < stage.min_samples:
        gaps.append(f"samples {samples:.0f}/{stage.min_samples}")
    gaps.extend(
        f"rule {i.label} {'no verdict' if i.alert.state == 'inactive' else i.alert.state}"
        for i in r.stage_rules()
        if not i.rule.dry_run and not i.healthy
    )
    gaps.extend(
        f"sign-off {role}" for role in stage.signoffs if (stage.name, role) not in r.signoffs
    )
    if stage.hours_utc is not None:
        start, end = stage.hours_utc
        hour = (to_s(now) % 86400.0) / 3600.0
        inside = start <= hour < end if start <= end else (hour >= start or hour < end)
        if not inside:
            gaps.append(f"outside hours {start:g}-{end:g} UTC")
    return gaps


def evidence(r: Rollout, inst: RuleInstance, step: int) -> Evidence:
    rule, obs = inst.rule, inst.last
    ts = to_s(r.step_time(step))
    seg = inst.segkey or (
        "" if rule.segment is None else ",".join(f"{k}={v}" for k, v in rule.segment)
    )
    scope_key = inst.segkey if rule.per_segment else ("~" + seg if rule.segment else "")
    scope = r.scopes.get((rule.variant, scope_key))
    for_s = rule.for_s
    if rule.signal == "status_mismatches":
        examples = r.mismatches.get(rule.variant, [])[:5]
        # an object counts only once its states disagreed for the plan's tolerance: that is
        # a persistence the condition had to hold, like `for` (and it is on top of `for`)
        for_s += r.plan.status_tolerance_s
    else:
        steps = max(1, round(rule.window_s / r.res))
        examples = [] if scope is None else scope.examples(step, steps)
    stats = (
        {}
        if obs is None
        else {k: float(v) for k, v in sorted(obs.stats.items()) if finite(v) is not None}
    )
    return Evidence(
        rule=inst.label,
        signal=rule.signal,
        variant=rule.variant,
        segment=parse_segment_key(seg) or None,
        observed=None if obs is None else finite(obs.value),
        baseline=None if obs is None else finite(obs.baseline),
        threshold=None if obs is None else finite(obs.threshold),
        comparator=rule.threshold.op if obs is None else obs.comparator,
        window_s=rule.window_s,
        for_s=for_s,
        samples=None if obs is None else int(obs.samples),
        from_ts=ts - rule.window_s,
        to_ts=ts,
        stats=stats,
        examples=examples,
    )


def drill_down(r: Rollout, inst: RuleInstance, step: int) -> list[Evidence]:
    """Segments driving an aggregate rate rule: one evidence item per segment named.

    For a rule on a rate signal over the whole variant, when the variant is also tracked per
    segment (some rule of the plan has ``per_segment``), the rate of each label value
    (``region=apac``: every segment carrying it) over the rule's window is compared with the
    rest of the variant's segments (mixture SPRT e-value, the rule's direction); label values
    at ``1/DRILL_DOWN_ALPHA`` or beyond are named, so a decision taken on the aggregate still
    says where the regression is.
    """
    rule = inst.rule
    if rule.per_segment or rule.segment or rule.signal not in signals.RATES:
        return []
    upward = rule.threshold.op in (">", ">=")
    steps = max(1, round(rule.window_s / r.res))
    # Segment scopes of one label set (every full segment, or every region=... pool) split
    # the variant's segmented traffic without overlap: compare within each such family.
    families: dict[tuple[str, ...], list[tuple[dict[str, str], Scope, int]]] = {}
    for (variant, seg), scope in sorted(r.scopes.items(), key=lambda kv: kv[0]):
        if variant != rule.variant or not seg or seg.startswith("~") or not scope.windows:
            continue
        labels = parse_segment_key(seg)
        w = steps if steps in scope.windows else max(scope.windows)
        families.setdefault(tuple(sorted(labels)), []).append((labels, scope, w))
    # one group per label value (region=apac) over the family's segments carrying it
    groups: dict[tuple[str, str], list[float]] = {}
    totals: dict[tuple[str, str], tuple[float, float]] = {}
    examples: dict[tuple[str, str], list[tuple[Scope, int]]] = {}
    width = 0
    for members in families.values():
        x_all = n_all = 0.0
        found: list[tuple[str, str]] = []
        for labels, scope, w in members:
            width = max(width, w)
            x, n = signals.rate_counts(rule.signal, scope.windows[w])
            x_all += x
            n_all += n
            for label in sorted(labels.items()):
                if label in totals:
                    continue  # already judged in an earlier family
                acc = groups.setdefault(label, [0.0, 0.0])
                acc[0] += x
                acc[1] += n
                examples.setdefault(label, []).append((scope, w))
                if label not in found:
                    found.append(label)
        for label in found:
            totals[label] = (x_all, n_all)
    ts = to_s(r.step_time(step))
    out: list[Evidence] = []
    for label, (x, n) in groups.items():
        x_rest, n_rest = totals[label][0] - x, totals[label][1] - n
        if n <= 0 or n_rest <= 0:
            continue
        if upward:
            e_value = msprt_two_proportions(x, n, x_rest, n_rest)
        else:
            e_value = msprt_two_proportions(n - x, n, n_rest - x_rest, n_rest)
        if e_value < 1.0 / DRILL_DOWN_ALPHA:
            continue
        ids: list[str] = []
        for scope, w in examples[label]:
            ids.extend(i for i in scope.examples(step, w) if i not in ids)
        out.append(
            Evidence(
                rule=inst.label,
                signal=rule.signal,
                variant=rule.variant,
                segment=dict([label]),
                observed=finite(x / n),
                baseline=finite(x_rest / n_rest),
                threshold=1.0 / DRILL_DOWN_ALPHA,
                comparator="segment_vs_rest_e_value>=",
                window_s=width * r.res,
                for_s=None,
                samples=int(n),
                from_ts=ts - width * r.res,
                to_ts=ts,
                stats={"e_value": float(min(e_value, 1e300)), "samples_rest": float(n_rest)},
                examples=ids[:5],
            )
        )
    return out


def _emit(
    r: Rollout,
    issuer: Issuer,
    action: Action,
    ts: float,
    step: int,
    insts: list[RuleInstance],
    advisory: bool,
    *,
    reason: str | None = None,
    prefix: str = "",
) -> Command:
    """One command; its reason is ``reason`` or else worded from the rules' evidence."""
    seq = r.policy.seq
    r.policy.seq = seq + 1
    stage = r.plan.stages[r.stage_idx].name
    items = [evidence(r, i, step) for i in insts]
    drivers = [] if action == "promote" else [d for i in insts for d in drill_down(r, i, step)]
    if reason is None:
        parts = [
            explain_rule(
                ev,
                rule=i.rule,
                bad_for_s=None
                if i.alert.active_at is None
                else to_s(r.step_time(step) - i.alert.active_at),
                signal_value=None if i.last is None else i.last.signal_value,
            )
            for i, ev in zip(insts, items, strict=True)
        ]
        reason = decision_reason(action, parts, driven_by=driver_text(drivers), prefix=prefix)
    items += drivers
    cmd = Command(
        v=1,
        command_id=command_id(r.rollout_id, stage, r.plan.version, action, seq),
        rollout_id=r.rollout_id,
        stage=stage,
        action=action,
        reason=reason[:4096],
        rule=insts[0].label if insts and action != "promote" else None,
        evidence=items,
        advisory=advisory,
        seq=seq,
        rule_set_version=r.plan.version,
        issued_at=ts,
        expires_at=ts + issuer.command_ttl_s,
        monitor_version=issuer.monitor_version,
    )
    decisions = r.policy.last_decisions
    decisions.append(msgspec.to_builtins(cmd))
    del decisions[:-LAST_DECISIONS]
    return cmd
