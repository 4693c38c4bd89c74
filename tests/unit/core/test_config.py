"""Plan/rule YAML validation (file:line, rule, field, expected) and `rollguard check`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.cli import app
from monitor.core import load_plans
from monitor.core.config import parse_duration
from tests.unit.core.schema_agreement import assert_agree
from topics.errors import ConfigError

EXAMPLES = ["examples/plans/broker-bridge.yaml", "examples/rules/broker-gates.yaml"]

GOOD_RULES = """\
version: 1
rule_sets:
  gates:
    - name: err
      signal: error_rate
      threshold: {kind: absolute, op: ">", value: 0.02}
      for: 5m
      action: pause
"""


def write(tmp_path: Path, text: str, name: str = "f.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def errors_of(*paths: Path) -> list[str]:
    assert_agree(paths)  # the JSON Schema refuses the same objects (tests/unit/core/...)
    with pytest.raises(ConfigError) as exc:
        load_plans(list(paths))
    return str(exc.value).splitlines()


def test_examples_load_and_cover_every_mission_rule() -> None:
    assert_agree([*EXAMPLES, "examples/plans/demo.yaml"])
    plans = load_plans(EXAMPLES)
    plan = plans["bridge-routing-v2"]
    assert [s.traffic_pct for s in plan.stages] == [1, 5, 20, 50, 100]
    assert plan.stages[-1].signoffs == ("cto", "coo", "compliance")
    by_action = {(r.signal, r.action) for r in plan.all_rules()}
    for needed in [
        ("error_rate", "pause"),
        ("latency_p99_ms", "rollback"),
        ("reject_rate", "hold"),
        ("status_mismatches", "freeze"),
        ("failovers", "reduce_scope"),
        ("pnl_cum", "halt"),
        ("drawdown", "halt"),
        ("freshness_s", "freeze"),
    ]:
        assert needed in by_action
    shadow = plans["bridge-routing-v2-shadow"]
    assert shadow.dry_run and ("shadow_match_rate", "freeze") in {
        (r.signal, r.action) for r in shadow.all_rules()
    }
    kinds = {r.threshold.kind for r in plan.all_rules()}
    assert kinds == {"absolute", "learned", "vs_baseline", "burn_rate"}


def test_version_is_stable_and_changes_with_any_rule(tmp_path: Path) -> None:
    a = load_plans(EXAMPLES)["bridge-routing-v2"].version
    assert a == load_plans(EXAMPLES)["bridge-routing-v2"].version
    rules = Path(EXAMPLES[1]).read_text()
    assert rules.count("value: 1.3}") == 1  # canary-p99-latency's ratio
    changed = write(tmp_path, rules.replace("value: 1.3}", "value: 1.35}"), "rules.yaml")
    assert load_plans([EXAMPLES[0], changed])["bridge-routing-v2"].version != a


def test_version_ignores_where_the_plan_was_read_and_its_descriptions(tmp_path: Path) -> None:
    """The same plan from another directory, moved down a few lines and described
    otherwise keeps its version (and so its command ids); only what decides changes it."""
    base = load_plans(EXAMPLES)["bridge-routing-v2"]
    moved = tmp_path / "elsewhere" / "deploy"
    moved.mkdir(parents=True)
    plan_text = "# moved here\n\n" + Path(EXAMPLES[0]).read_text().replace(
        "description: New LP routing", "description: Another wording of the new LP routing"
    )
    rules_text = (
        Path(EXAMPLES[1])
        .read_text()
        .replace("description: Timeouts, disconnects", "description: Timeouts and disconnects")
    )
    plan_file, rules_file = write(moved, plan_text, "p.yaml"), write(moved, rules_text, "r.yaml")
    again = load_plans([plan_file, rules_file])["bridge-routing-v2"]
    assert (again.source, again.description) != (base.source, base.description)
    assert again.all_rules()[0].source != base.all_rules()[0].source
    assert again.version == base.version
    changed = write(moved, rules_text.replace("value: 1.3}", "value: 1.35}"), "r.yaml")
    assert load_plans([plan_file, changed])["bridge-routing-v2"].version != base.version
    slower = write(moved, rules_text.replace("for: 2m", "for: 3m", 1), "r.yaml")
    assert load_plans([plan_file, slower])["bridge-routing-v2"].version != base.version


def test_rule_errors_name_file_line_rule_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        rule_sets:
          gates:
            - name: err
              signal: error_rate
              threshold: {kind: absolute, op: "=>", value: 0.02}
              for: five minutes
              action: explode
            - name: p99
              signal: latency_p99_ms
              threshold: {kind: vs_baseline, method: sequential}
              action: rollback
              colour: red
        """,
    )
    errs = errors_of(path)
    assert errs == [
        f"{path}:5: rule 'err' (rule set 'gates'): field 'threshold.op': expected one of "
        "'>', '>=', '<', '<='; got '=>'",
        f"{path}:6: rule 'err' (rule set 'gates'): field 'for': expected a duration like "
        "30s, 5m, 1h (or seconds); got 'five minutes'",
        f"{path}:7: rule 'err' (rule set 'gates'): field 'action': expected one of 'halt', "
        "'rollback', 'freeze', 'pause', 'reduce_scope', 'hold'; got 'explode'",
        f"{path}:9: rule 'p99' (rule set 'gates'): field 'signal': expected a rate signal "
        "(cancel_rate, disconnect_rate, error_rate, fill_rate, off_quotes_rate, "
        "partial_fill_rate, reject_rate, shadow_match_rate, shadow_mismatch_rate, "
        "timeout_rate) for a sequential test; got 'latency_p99_ms'",
        f"{path}:12: rule 'p99' (rule set 'gates'): field 'colour': expected one of the known "
        "fields action, description, dry_run, eval_interval, for, keep_firing_for, "
        "min_samples, name, no_data, per_segment, segment, severity, signal, threshold, "
        "variant, window; got 'red'",
    ]


def test_plan_errors(tmp_path: Path) -> None:
    rules = write(tmp_path, GOOD_RULES, "rules.yaml")
    plan = write(
        tmp_path,
        """\
        plans:
          p:
            rules: [gates, missing]
            resolution: 2s
            stages:
              - name: a
                traffic_pct: 150
              - name: a
                min_dwell: -5
        """,
    )
    errs = errors_of(rules, plan)
    assert errs[0] == (
        f"{plan}:3: plan 'p': field 'rules': expected names of loaded rule sets "
        "(gates); got ['gates', 'missing']"
    )
    assert (
        f"{plan}:7: plan 'p' stage 'a': field 'traffic_pct': expected a number in "
        "[0.0, 100.0]; got 150" in errs
    )
    assert any(":9: plan 'p' stage 'a': field 'min_dwell'" in e for e in errs)
    assert any(
        ":8: plan 'p' stage 'a': field 'traffic_pct': expected traffic_pct, segment "
        "or hours_utc" in e
        for e in errs
    )
    assert any("stages[].name': expected unique stage names; got 'a'" in e for e in errs)


def test_yaml_syntax_and_shape_errors(tmp_path: Path) -> None:
    bad = write(tmp_path, "plans: [\n  {a: 1\n")
    assert errors_of(bad)[0].startswith(f"{bad}:3: not valid YAML")
    dup = write(tmp_path, "rule_sets: {}\nrule_sets: {}\n", "dup.yaml")
    assert errors_of(dup) == [f"{dup}:2: duplicate key 'rule_sets'"]
    missing = tmp_path / "nope.yaml"
    assert errors_of(missing)[0].startswith(f"{missing}: cannot read")


def test_durations() -> None:
    assert [parse_duration(x) for x in ("250ms", "30s", "5m", "1h", "2d", 7, "1.5m")] == [
        0.25,
        30.0,
        300.0,
        3600.0,
        172800.0,
        7.0,
        90.0,
    ]
    assert [parse_duration(x) for x in ("5 min", -1, True, None, "m")] == [None] * 5


def test_check_command(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["check", "examples/plans", "examples/rules"])
    assert ok.exit_code == 0, ok.output
    assert "bridge-routing-v2" in ok.output and "canary-50" in ok.output
    bad = write(tmp_path, "plans:\n  p:\n    stages: []\n")
    res = runner.invoke(app, ["check", str(bad)])
    assert res.exit_code == 1
    assert f"{bad}:3: plan 'p': field 'stages': expected a non-empty list" in res.output


def test_conflicting_rule_names_and_scopes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        rule_sets:
          a:
            - {name: err, signal: error_rate, action: pause,
               threshold: {kind: absolute, value: 0.02}}
          b:
            - {name: err, signal: error_rate, action: halt,
               threshold: {kind: absolute, value: 0.5}}
            - {name: seg, signal: error_rate, action: hold, per_segment: true,
               segment: {region: eu}, threshold: {kind: absolute, value: 0.1}}
        plans:
          p:
            rules: [a, b]
            stages: [{name: s, traffic_pct: 1}]
        """,
    )
    errs = errors_of(path)
    assert any(
        "field 'segment': expected either segment (a filter) or per_segment" in e for e in errs
    )
    assert any(
        "plan 'p' stage 's': field 'rules': expected rule sets without two different "
        "rules named 'err'" in e
        for e in errs
    )
