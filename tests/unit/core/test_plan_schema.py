"""The JSON Schema of plan files: published, valid, in step with the checker's tables, and
judging broken files as ``rollguard check`` does; misspellings get one "did you mean"."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.cli import app
from monitor.core import load_plans
from monitor.core.plan_schema import PUBLISHED, render
from tests.tools import check_jsonschema, missing_reason
from tests.unit.core.schema_agreement import assert_agree, validator
from topics.errors import ConfigError

EXAMPLES = sorted(Path("examples").glob("*/*.yaml"))
RULE = "rule_sets:\n  g:\n    - {name: a, signal: %s, action: pause, threshold: %s%s}\n"
ERR = "error_rate"
ABS = "{kind: absolute, value: 0.1}"


def rule(signal: str = ERR, threshold: str = ABS, extra: str = "") -> str:
    return RULE % (signal, threshold, extra)


def stages(*items: str) -> str:
    return "rule_sets:\n  g: []\nplans:\n  p:\n    stages:\n" + "".join(
        f"      - {item}\n" for item in items
    )


BROKEN = {
    "a field of another threshold kind": rule(threshold="{kind: absolute, value: 0.1, k: 3}"),
    "sequential test on a latency": rule(
        "latency_p99_ms", "{kind: vs_baseline, method: sequential}"
    ),
    "stage that exposes nothing": stages("{name: s}"),
    "hours with minute 75": stages("{name: s, hours_utc: '10:75-11:00'}"),
    "zero window": rule(extra=", window: 0s"),
    "metric without a name": rule("'metric:'"),
    "file version 2": "version: 2\nrule_sets: {}\n",
    "name with a space": rule().replace("name: a", "name: 'a b'"),
    "baseline compared with itself": rule(
        threshold="{kind: vs_baseline, method: ratio, value: 2}", extra=", variant: baseline"
    ),
    "per_segment of numbers": rule(extra=", per_segment: [1]"),
    "gauge per segment": rule("pnl_cum", extra=", per_segment: true"),
    "burn rate of a latency": rule("latency_p99_ms", "{kind: burn_rate}"),
    "ratio without a value": rule("latency_p99_ms", "{kind: vs_baseline, method: ratio}"),
    "cusum on a grid": rule(
        threshold="{kind: vs_baseline, method: cusum, shift: 0.1, h: 1}",
        extra=", eval_interval: 10s",
    ),
    "latency cusum downwards": rule(
        "latency_p99_ms",
        "{kind: vs_baseline, method: cusum, op: '<', value: 1.3, shift: 0.1, h: 1}",
    ),
    "cusum on a gauge": rule(
        "freshness_s", "{kind: absolute, method: cusum, value: 0.5, shift: 0.1, h: 1}"
    ),
    "cusum without h": rule(threshold="{kind: vs_baseline, method: cusum, shift: 0.1}"),
    "cusum cap below h": rule(
        threshold="{kind: vs_baseline, method: cusum, shift: 0.1, h: 2, cap: 1}"
    ),
    "no stages": "plans:\n  p:\n    stages: []\n",
    "two stages of one name": stages("{name: s, traffic_pct: 1}", "{name: s, traffic_pct: 2}"),
    "a number as a string": rule(extra=", min_samples: '5'"),
    "a boolean segment label": rule(extra=", segment: {region: true}"),
    "misspelt fields": rule().replace("signal:", "signl:").replace("threshold:", "treshold:"),
    "unknown signal": rule("latency_p99"),
    "unknown plan field": stages("{name: s, traffic_pct: 1}").replace(
        "p:\n", "p:\n    colour: red\n"
    ),
    "unknown rule set": stages("{name: s, traffic_pct: 1, rules: [nope]}"),
    "stage over 100 %": stages("{name: s, traffic_pct: 150}"),
    "negative dwell": stages("{name: s, traffic_pct: 1, min_dwell: -5}"),
    "plan name with a space": stages("{name: s, traffic_pct: 1}").replace("  p:\n", "  'p q':\n"),
    "rule set name with a newline": rule().replace("  g:\n", '  "g\\n":\n'),
    "hours with a newline": stages('{name: s, hours_utc: "10:00-11:00\\n"}'),
}


@pytest.mark.parametrize("text", BROKEN.values(), ids=BROKEN.keys())
def test_check_and_schema_refuse_the_same_objects(tmp_path: Path, text: str) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_plans([path])
    assert_agree([path])


def test_examples_pass_both() -> None:
    assert EXAMPLES
    assert_agree(EXAMPLES)
    load_plans(EXAMPLES)


def test_published_schema_is_current_and_valid() -> None:
    assert PUBLISHED.read_bytes() == render(), "run `rollguard schema -o monitor/schemas/...`"
    assert validator().schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    out = CliRunner().invoke(app, ["schema"])
    assert out.exit_code == 0 and json.loads(out.stdout) == json.loads(render())


def test_an_editor_tool_validates_the_examples_with_it(tmp_path: Path) -> None:
    """check-jsonschema (what editor and CI pipelines run) reads the YAML itself."""
    command = check_jsonschema()
    if command is None:
        pytest.skip(missing_reason("check-jsonschema"))
    tool = [*command.argv, "--schemafile", str(PUBLISHED)]

    def run(*paths: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*tool, *paths], capture_output=True, text=True, check=False, env=command.env
        )

    ok = run(*map(str, EXAMPLES))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(BROKEN["misspelt fields"])
    refused = run(str(bad))
    assert refused.returncode == 1 and "treshold" in refused.stdout


def test_a_misspelt_field_is_one_problem_with_a_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            rule_sets:
              g:
                - name: a
                  signl: error_rate
                  treshold: {kind: absolute, value: 0.02}
                  windw: 5m
                  action: pause
                - name: b
                  signal: latency_p99
                  threshold: {kind: absolute, value: 0.02, k: 3}
                  action: pause
            """
        )
    )
    with pytest.raises(ConfigError) as exc:
        load_plans([path])
    where = f"{path}:%d: rule '%s' (rule set 'g'): field "
    assert str(exc.value).splitlines() == [
        (where % (4, "a")) + "'signl': unknown field; did you mean 'signal'?",
        (where % (5, "a")) + "'treshold': unknown field; did you mean 'threshold'?",
        (where % (6, "a")) + "'windw': unknown field; did you mean 'window'?",
        (where % (9, "b")) + "'signal': expected a known signal (did you mean "
        "'latency_p99_ms'?); got 'latency_p99'",
        (where % (10, "b")) + "'threshold.k': expected a field of kind absolute: cap, h, kind, "
        "method, op, shift, value; got 3",
    ]
