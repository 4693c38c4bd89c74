"""YAML with line numbers: every mapping and list remembers where its items came from.

PyYAML's composer gives nodes with marks; we build plain dicts/lists from them (safe tags
only) and keep the line of each key and item, so config errors can say ``file:line``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from topics.errors import ConfigError

# libyaml's composer when PyYAML has it (same nodes and marks, ~5x faster than Python's)
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LocatedDict(dict[str, Any]):
    """A mapping from YAML that knows its own line and the line of each key (1-based)."""

    line: int
    key_lines: dict[str, int]


class LocatedList(list[Any]):
    """A sequence from YAML that knows its own line and the line of each item (1-based)."""

    line: int
    item_lines: list[int]


def _convert(node: yaml.Node, source: str) -> object:
    if isinstance(node, yaml.MappingNode):
        out = LocatedDict()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
        for key_node, value_node in node.value:
            key = _convert(key_node, source)
            if not isinstance(key, str):
                raise ConfigError(
                    f"{source}:{key_node.start_mark.line + 1}: mapping keys must be strings, "
                    f"got {key!r}"
                )
            if key in out:
                raise ConfigError(f"{source}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
            out[key] = _convert(value_node, source)
            out.key_lines[key] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        seq = LocatedList(_convert(item, source) for item in node.value)
        seq.line = node.start_mark.line + 1
        seq.item_lines = [item.start_mark.line + 1 for item in node.value]
        return seq
    assert isinstance(node, yaml.ScalarNode)
    # SafeConstructor resolves the scalar's implicit tag (int, float, bool, null, str).
    return yaml.SafeLoader("").construct_object(node, deep=True)


def load_located(text: str, source: str) -> object:
    """Parse one YAML document into Located containers; raise ConfigError with the line."""
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else 0
        raise ConfigError(f"{source}:{line}: not valid YAML: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if node is None:
        raise ConfigError(f"{source}:1: empty document")
    return _convert(node, source)


def load_file(path: Path) -> object:
    """Read and parse one YAML file (errors name the file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    return load_located(text, str(path))
