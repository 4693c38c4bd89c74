"""``rollguard check`` and the published JSON Schema must judge plan files alike.

:func:`assert_agree` runs both on the same files and compares, object by object (a rule,
a stage, a plan, the file), where they found problems: every object the schema refuses,
``check`` refuses too, and every object ``check`` refuses for a reason a schema can state,
the schema refuses too. The reasons no JSON Schema can state (references across files,
unique names, multiples of the resolution, relations between numbers) are recognised by
their messages and listed in the schema's own description. The test helpers that write
plan files call it, so every example and every broken case in the tests is compared.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import regress

from monitor.core import load_plans
from monitor.core.plan_schema import PUBLISHED
from monitor.core.yamlload import LocatedDict, LocatedList, load_file
from topics.errors import ConfigError

CHECK_ONLY = re.compile(
    "|".join(
        [
            r"expected names of loaded rule sets",  # references across files
            r"expected (a )?unique",  # unique names
            r"rule sets without two different rules named",
            r"a multiple of the plan's resolution",
            r"expected a ceiling >= h",
            r"expected a rise of the bad-event rate in",  # shift against its reference rate
            r"expected a window shorter than long",
            r"no plans and no rule sets found",
        ]
    )
)
UNPARSED = re.compile(r"not valid YAML|duplicate key|cannot read|empty document|mapping keys")
_WHERE = re.compile(r"^(.*?):(\d+): ")

Path_ = tuple[Any, ...]


def _ecma_pattern(
    validator: Any, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    """``pattern`` as editors run it (ECMA-262, via regress as check-jsonschema does):
    Python's ``re`` lets ``$`` match before a final newline, ECMA-262 does not."""
    if validator.is_type(instance, "string") and regress.Regex(pattern).find(instance) is None:
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def validator() -> Any:
    schema = json.loads(PUBLISHED.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    ecma = jsonschema.validators.extend(jsonschema.Draft7Validator, {"pattern": _ecma_pattern})
    return ecma(schema)


def _objects(doc: Any) -> Iterator[tuple[Path_, int, int]]:
    """(path, first line, last line) of the file, each plan, stage and rule."""

    def last(node: Any, line: int) -> int:
        if isinstance(node, LocatedDict):
            lines = [line, node.line, *node.key_lines.values()]
            return max([*lines, *(last(v, line) for v in node.values())])
        if isinstance(node, LocatedList):
            return max([line, node.line, *node.item_lines, *(last(v, line) for v in node)])
        return line

    yield (), 1, last(doc, 1)
    if not isinstance(doc, LocatedDict):
        return
    plans = doc.get("plans")
    if isinstance(plans, LocatedDict):
        for name, plan in plans.items():
            first = plans.key_lines[name]
            yield ("plans", name), first, last(plan, first)
            stages = plan.get("stages") if isinstance(plan, LocatedDict) else None
            if isinstance(stages, LocatedList):
                for i, (stage, line) in enumerate(zip(stages, stages.item_lines, strict=True)):
                    yield ("plans", name, "stages", i), line, last(stage, line)
    rule_sets = doc.get("rule_sets")
    if isinstance(rule_sets, LocatedDict):
        for name, rules in rule_sets.items():
            if isinstance(rules, LocatedList):
                for i, (rule, line) in enumerate(zip(rules, rules.item_lines, strict=True)):
                    yield ("rule_sets", name, i), line, last(rule, line)


def _owner(path: Sequence[Any]) -> Path_:
    """The plan, stage or rule a schema error's instance path belongs to."""
    p = tuple(path)
    if p[:1] == ("rule_sets",) and len(p) >= 3:
        return p[:3]
    if p[:1] == ("plans",) and len(p) >= 4 and p[2] == "stages":
        return p[:4]
    if p[:1] == ("plans",) and len(p) >= 2:
        return p[:2]
    return ()


def _path(error: jsonschema.ValidationError) -> list[Any]:
    """Where an error is; a refused key (propertyNames) is the object the key names."""
    path = list(error.absolute_path)
    return [*path, error.instance] if "propertyNames" in error.absolute_schema_path else path


def _at_line(doc: Any, line: int) -> Path_:
    """The innermost plan, stage or rule whose lines hold ``line``."""
    best: tuple[int, Path_] = (-1, ())
    for path, first, end in _objects(doc):
        if first <= line <= end and len(path) > best[0]:
            best = (len(path), path)
    return best[1]


def assert_agree(paths: Sequence[str | Path]) -> None:
    """Fail when check and the schema disagree on which objects of ``paths`` are wrong."""
    try:
        load_plans(list(paths))
        messages: list[str] = []
    except ConfigError as exc:
        messages = str(exc).splitlines()
    for path in paths:
        try:
            doc = load_file(Path(path))
        except ConfigError:
            continue  # not YAML at all: an editor's YAML parser says so, not a schema
        mine = [m for m in messages if m.startswith(f"{path}:") or m.startswith(f"{path}: ")]
        if any(UNPARSED.search(m) for m in mine):
            continue
        by_check, check_only = set(), set()
        for message in mine:
            match = _WHERE.match(message)
            owner = _at_line(doc, int(match.group(2))) if match else ()
            (check_only if CHECK_ONLY.search(message) else by_check).add(owner)
        by_schema = {_owner(_path(e)) for e in validator().iter_errors(doc)}
        schema_text = [
            f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator().iter_errors(doc)
        ]
        assert by_schema <= by_check | check_only, (
            f"{path}: the schema refuses {sorted(by_schema - by_check - check_only, key=str)} "
            f"that check accepts: {schema_text}"
        )
        assert by_check <= by_schema, (
            f"{path}: check refuses {sorted(by_check - by_schema, key=str)} for reasons a "
            f"schema can state, the schema accepts them: {mine}"
        )
