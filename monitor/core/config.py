"""Load and validate plan and rule YAML files into a :class:`~monitor.core.model.PlanSet`.

Every file may hold ``rule_sets:`` (name → list of rules) and ``plans:`` (name → plan);
plans refer to rule sets by name, across files. All problems are collected and raised as
one :class:`~topics.errors.ConfigError`, one line each: ``file:line: where: field 'x':
expected ...; got ...``. The format is documented with the examples in ``examples/``.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import orjson

from monitor.core import signals, thresholds
from monitor.core.fields import Ctx, Fields, parse_duration
from monitor.core.model import (
    RULE_ACTIONS,
    NoData,
    PlanSet,
    RolloutPlan,
    Rule,
    Stage,
    Threshold,
    versioned,
)
from monitor.core.planspec import (
    FILE,
    HOURS_PATTERN,
    KINDS,
    NAME_PATTERN,
    PLAN,
    RULE,
    STAGE,
    signal_names,
    threshold_fields,
)
from monitor.core.yamlload import LocatedDict, LocatedList, load_file
from topics.commands import Action
from topics.errors import ConfigError

__all__ = ["load_plans", "parse_duration"]

_NAME: Final = re.compile(NAME_PATTERN)
_HOURS: Final = re.compile(HOURS_PATTERN)
_ACTIONS: Final[dict[str, Action]] = {a: a for a in RULE_ACTIONS}
_NO_DATA: Final[dict[str, NoData]] = {"hold": "hold", "ok": "ok", "fire": "fire"}
_WHERE: Final = re.compile(r"^(.*?):(\d+): ")
_NAMED: Final = "a name of letters, digits and _.:/@+- (1-128 chars)"


def _threshold(ctx: Ctx, node: object, rule: Fields, signal: str) -> Threshold:
    if not isinstance(node, LocatedDict):
        rule.bad("threshold", "a mapping with kind: " + " | ".join(thresholds.KINDS))
        return Threshold(kind="absolute")
    raw_kind = node.get("kind")
    known_kind = raw_kind if raw_kind in KINDS else None
    # a kind's own fields only (a `k` on an absolute threshold would silently do nothing)
    f = Fields(ctx, node, rule.where, "threshold.", threshold_fields(known_kind))
    f.unknown(what=f"a field of kind {known_kind}:" if known_kind else "")
    return thresholds.parse(f, rule, signal)


def _rule(ctx: Ctx, node: object, line: int, set_name: str) -> Rule | None:
    if not isinstance(node, LocatedDict):
        ctx.error(line, f"rule set '{set_name}'", "rules[]", "a mapping (one rule)", node)
        return None
    name = node.get("name")
    where = (
        f"rule '{name}' (rule set '{set_name}')"
        if isinstance(name, str)
        else (f"rule set '{set_name}'")
    )
    f = Fields(ctx, node, where, spec=RULE)
    f.unknown()
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        f.bad("name", _NAMED)
        name = f"?line{node.line}"
    signal = f.text("signal")
    if not signals.is_known(signal):
        close = difflib.get_close_matches(signal, signal_names(), n=1, cutoff=0.6)
        f.bad(
            "signal",
            f"a known signal (did you mean '{close[0]}'?)"
            if close
            else "one of " + ", ".join(signal_names()) + ", metric:<name>",
        )
    threshold = _threshold(ctx, node.get("threshold"), f, signal)
    method = thresholds.method_of(threshold)
    window = method.rule_window_s(threshold, f.duration("window") or 60.0)
    raw_per_segment = node.get("per_segment", False)
    segment_by: tuple[str, ...] = ()
    if isinstance(raw_per_segment, list) and raw_per_segment:
        if all(isinstance(x, str) and x for x in raw_per_segment):
            segment_by = tuple(sorted(set(raw_per_segment)))
        else:
            f.bad("per_segment", "true, false or a list of segment label names")
        per_segment = True
    elif isinstance(raw_per_segment, list):
        f.bad("per_segment", "true, false or a list of segment label names")
        per_segment = False
    else:
        per_segment = f.boolean("per_segment")
    segment = f.segment("segment")
    if signal in signals.GAUGE_SIGNALS and (per_segment or segment) and signal != "freshness_s":
        f.bad("per_segment", f"no segment scope: {signal} is tracked per variant")
    if per_segment and segment:
        f.bad("segment", "either segment (a filter) or per_segment: true, not both")
    rule = Rule(
        name=name,
        signal=signal,
        threshold=threshold,
        action=_ACTIONS[f.choice("action")],
        variant=f.choice("variant"),
        segment=segment,
        per_segment=per_segment,
        segment_by=segment_by,
        window_s=window,
        for_s=f.duration("for") or 0.0,
        keep_firing_for_s=f.duration("keep_firing_for") or 0.0,
        eval_interval_s=f.duration("eval_interval") or 0.0,
        min_samples=f.integer("min_samples"),
        no_data=_NO_DATA[f.choice("no_data")],
        severity=f.text("severity"),
        dry_run=f.boolean("dry_run"),
        description=f.text("description"),
        source=f"{ctx.source}:{node.line}",
    )
    method.check_rule(rule, f)
    if threshold.against == "rest" and not rule.per_segment:
        f.bad("threshold", "against: rest only on a per_segment rule (the rest of what?)")
    if method.compares and rule.variant == "baseline":
        f.bad("variant", "canary or shadow (the baseline variant is the reference)")
    return rule


def _hours(f: Fields) -> tuple[float, float] | None:
    v = f.node.get("hours_utc")
    if v is None:
        return None
    m = _HOURS.fullmatch(v) if isinstance(v, str) else None
    if m is None or int(m.group(1)) > 24 or int(m.group(3)) > 24:
        f.bad("hours_utc", "a UTC time window like 22:00-06:00")
        return None
    return (int(m.group(1)) + int(m.group(2)) / 60, int(m.group(3)) + int(m.group(4)) / 60)


def _names(f: Fields, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    v = f.node.get(key, list(default))
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        f.bad(key, "a list of names")
        return default
    return tuple(v)


def _stage(
    ctx: Ctx,
    node: object,
    line: int,
    plan: str,
    plan_rules: tuple[str, ...],
    rule_sets: dict[str, tuple[Rule, ...]],
) -> Stage | None:
    if not isinstance(node, LocatedDict):
        ctx.error(line, f"plan '{plan}'", "stages[]", "a mapping (one stage)", node)
        return None
    name = node.get("name")
    where = f"plan '{plan}' stage '{name}'"
    f = Fields(ctx, node, where, spec=STAGE)
    f.unknown()
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        f.bad("name", "a stage name of letters, digits and _.:/@+-")
        name = f"?line{node.line}"
    traffic = f.number("traffic_pct") if "traffic_pct" in node else None
    segment = f.segment("segment")
    hours = _hours(f)
    if traffic is None and segment is None and hours is None:
        f.bad("traffic_pct", "traffic_pct, segment or hours_utc (what this stage exposes)")
    set_names = _names(f, "rules", plan_rules)
    rules: dict[str, Rule] = {}
    for set_name in set_names:
        if set_name not in rule_sets:
            if "rules" in node:  # inherited names are reported once, on the plan
                known = ", ".join(sorted(rule_sets)) or "none loaded"
                f.bad("rules", f"names of loaded rule sets ({known})")
            continue
        for rule in rule_sets[set_name]:
            if rules.setdefault(rule.name, rule) is not rule and rules[rule.name] != rule:
                f.bad("rules", f"rule sets without two different rules named '{rule.name}'")
    return Stage(
        name=name,
        traffic_pct=traffic,
        segment=segment,
        hours_utc=hours,
        min_dwell_s=f.duration("min_dwell") or 0.0,
        min_samples=f.integer("min_samples"),
        max_duration_s=f.duration("max_duration"),
        signoffs=_names(f, "signoffs", ()),
        rules=tuple(rules.values()),
        sample_variant=f.choice("sample_variant"),
    )


def _version(name: str, stages: Sequence[Stage], settings: Mapping[str, object]) -> str:
    """Hash of what decides (:func:`~monitor.core.model.versioned`): not where the plan
    was read, nor its descriptions."""
    plan = {"name": name, "stages": versioned(list(stages)), **settings}
    del plan["description"]
    return hashlib.sha256(
        orjson.dumps(plan, option=orjson.OPT_SORT_KEYS, default=repr)
    ).hexdigest()[:16]


def _plan(
    ctx: Ctx, name: str, node: object, line: int, rule_sets: dict[str, tuple[Rule, ...]]
) -> RolloutPlan | None:
    where = f"plan '{name}'"
    if not isinstance(node, LocatedDict):
        ctx.error(line, where, "plans." + name, "a mapping with stages", node)
        return None
    f = Fields(ctx, node, where, spec=PLAN)
    f.unknown()
    plan_rules = _names(f, "rules", ())
    unknown_sets = [n for n in plan_rules if n not in rule_sets]
    if unknown_sets:
        known = ", ".join(sorted(rule_sets)) or "none loaded"
        f.bad("rules", f"names of loaded rule sets ({known})")
    raw_stages = node.get("stages")
    stages: list[Stage] = []
    if not isinstance(raw_stages, LocatedList) or not raw_stages:
        f.bad("stages", "a non-empty list of stages")
    else:
        for item, item_line in zip(raw_stages, raw_stages.item_lines, strict=True):
            stage = _stage(ctx, item, item_line, name, plan_rules, rule_sets)
            if stage is not None:
                if any(s.name == stage.name for s in stages):
                    ctx.error(item_line, where, "stages[].name", "unique stage names", stage.name)
                stages.append(stage)
    resolution = f.duration("resolution") or 1.0
    settings: dict[str, Any] = {
        "description": f.text("description"),
        "dry_run": f.boolean("dry_run"),
        "allowed_lateness_s": f.duration("allowed_lateness") or 0.0,
        "resolution_s": resolution,
        "cooldown_s": f.duration("cooldown") or 0.0,
        "status_tolerance_s": f.duration("status_tolerance") or 0.0,
        "join_window_s": f.duration("shadow_join_window") or 5.0,
        "price_band_bps": f.number("shadow_price_band_bps"),
    }
    for stage in stages:
        for rule in stage.rules:
            for what, seconds in (
                ("window", rule.window_s),
                ("eval_interval", rule.eval_interval_s),
            ):
                if seconds and abs(seconds / resolution - round(seconds / resolution)) > 1e-9:
                    ctx.error(
                        line,
                        f"rule '{rule.name}' in {where}",
                        what,
                        f"a multiple of the plan's resolution ({resolution:g} s)",
                        seconds,
                    )
    version = _version(name, stages, settings)
    return RolloutPlan(
        name=name,
        stages=tuple(stages),
        version=version,
        source=f"{ctx.source}:{node.line}",
        **settings,
    )


def load_plans(paths: Sequence[str | Path]) -> PlanSet:
    """Load plans and rule sets from YAML files; raise ConfigError listing every problem.

    Rule sets are read from all files first, so a plan may use rule sets of any file.

    >>> try:
    ...     load_plans(["examples/plans/broker-bridge.yaml"])
    ... except ConfigError as exc:
    ...     print(str(exc).splitlines()[0])
    examples/plans/broker-bridge.yaml:13: plan 'bridge-routing-v2': field 'rules': expected names \
of loaded rule sets (none loaded); got ['broker-gates']
    """
    errors: list[str] = []
    docs: list[tuple[Ctx, LocatedDict]] = []
    for path in paths:
        p = Path(path)
        ctx = Ctx(str(path), errors)
        try:
            doc = load_file(p)
        except ConfigError as exc:
            errors.append(str(exc))
            continue
        if not isinstance(doc, LocatedDict):
            ctx.error(1, "file", "(top level)", "a mapping with rule_sets: and/or plans:", doc)
            continue
        top = Fields(ctx, doc, "file", spec=FILE)
        top.unknown()
        if doc.get("version", 1) != 1:
            top.bad("version", "1")
        docs.append((ctx, doc))
    rule_sets: dict[str, tuple[Rule, ...]] = {}
    for ctx, doc in docs:
        for set_name, rules in (doc.get("rule_sets") or {}).items():
            line = doc["rule_sets"].key_lines[set_name]
            if not _NAME.fullmatch(set_name):  # plans name it in their rules:
                ctx.error(line, f"rule set '{set_name}'", "rule_sets", _NAMED, set_name)
            if set_name in rule_sets:
                ctx.error(line, f"rule set '{set_name}'", "rule_sets", "a unique name", set_name)
                continue
            if not isinstance(rules, LocatedList):
                ctx.error(
                    line,
                    f"rule set '{set_name}'",
                    "rule_sets." + set_name,
                    "a list of rules",
                    rules,
                )
                continue
            parsed = [
                _rule(ctx, r, ln, set_name) for r, ln in zip(rules, rules.item_lines, strict=True)
            ]
            names = [r.name for r in parsed if r is not None]
            for dup in sorted({n for n in names if names.count(n) > 1}):
                ctx.error(line, f"rule set '{set_name}'", "name", "unique rule names", dup)
            rule_sets[set_name] = tuple(r for r in parsed if r is not None)
    plans: dict[str, RolloutPlan] = {}
    for ctx, doc in docs:
        for name, node in (doc.get("plans") or {}).items():
            line = doc["plans"].key_lines[name]
            if not _NAME.fullmatch(name):  # `registered` events name it (topics.names)
                ctx.error(line, f"plan '{name}'", "plans", _NAMED, name)
            if name in plans:
                ctx.error(line, f"plan '{name}'", "plans", "a unique plan name", name)
                continue
            plan = _plan(ctx, name, node, line, rule_sets)
            if plan is not None:
                plans[name] = plan
    if errors:
        order = {str(p): i for i, p in enumerate(paths)}

        def where(message: str) -> tuple[int, int]:
            m = _WHERE.match(message)
            return (order.get(m.group(1), 0), int(m.group(2))) if m else (0, 0)

        raise ConfigError("\n".join(sorted(errors, key=where)))
    if not plans and not rule_sets:
        raise ConfigError(", ".join(map(str, paths)) + ": no plans and no rule sets found")
    return PlanSet(plans=plans, sources=tuple(str(p) for p in paths))
