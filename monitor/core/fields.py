"""Typed getters over YAML mappings that collect precise errors instead of raising.

Each problem becomes one line ``file:line: where: field 'x': expected ...; got ...``;
:func:`monitor.core.config.load_plans` gathers them all and raises one ConfigError.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final, cast

from monitor.core.yamlload import LocatedDict

_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")


class Ctx:
    """Where we are (file, line, rule/plan) and the errors found so far."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.source = source
        self.errors = errors

    def error(self, line: int, where: str, field: str, expected: str, got: object) -> None:
        shown = "nothing" if got is MISSING else repr(got)
        self.errors.append(
            f"{self.source}:{line}: {where}: field '{field}': expected {expected}; got {shown}"
        )


MISSING: Final = object()


def parse_duration(value: object) -> float | None:
    """Seconds from ``30s``/``5m``/``1h``/``250ms``/``2d`` or a number of seconds.

    >>> parse_duration("5m"), parse_duration(90), parse_duration("1.5h"), parse_duration("x")
    (300.0, 90.0, 5400.0, None)
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value >= 0 else None
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * _UNITS[m.group(2)]
    return None


class Fields:
    """Typed getters over one YAML mapping that record errors instead of raising."""

    def __init__(self, ctx: Ctx, node: LocatedDict, where: str, prefix: str = "") -> None:
        self.ctx, self.node, self.where, self.prefix = ctx, node, where, prefix

    def line(self, key: str) -> int:
        return self.node.key_lines.get(key, self.node.line)

    def bad(self, key: str, expected: str) -> None:
        self.ctx.error(
            self.line(key), self.where, self.prefix + key, expected, self.node.get(key, MISSING)
        )

    def unknown(self, allowed: frozenset[str]) -> None:
        for key in self.node:
            if key not in allowed:
                self.bad(key, "one of the known fields " + ", ".join(sorted(allowed)))

    def duration(self, key: str, default: float | None, *, positive: bool = False) -> float | None:
        if key not in self.node:
            return default
        seconds = parse_duration(self.node[key])
        if seconds is None or (positive and seconds <= 0):
            kind = "a positive duration" if positive else "a duration"
            self.bad(key, f"{kind} like 30s, 5m, 1h (or seconds)")
            return default
        return seconds

    def number(
        self, key: str, default: float, lo: float | None = None, hi: float | None = None
    ) -> float:
        if key not in self.node:
            return default
        v = self.node[key]
        ok = isinstance(v, int | float) and not isinstance(v, bool)
        if ok and ((lo is not None and v < lo) or (hi is not None and v > hi)):
            ok = False
        if not ok:
            bounds = (
                f" in [{lo}, {hi}]"
                if lo is not None and hi is not None
                else (f" >= {lo}" if lo is not None else "")
            )
            self.bad(key, f"a number{bounds}")
            return default
        return float(v)

    def integer(self, key: str, default: int) -> int:
        v = self.node.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            self.bad(key, "a non-negative integer")
            return default
        return v

    def boolean(self, key: str, default: bool) -> bool:
        v = self.node.get(key, default)
        if not isinstance(v, bool):
            self.bad(key, "true or false")
            return default
        return v

    def choice(self, key: str, options: Sequence[str], default: str | None) -> str:
        v = self.node.get(key, MISSING if default is None else default)
        if v not in options:
            self.bad(key, "one of " + ", ".join(repr(o) for o in options))
            return options[0] if default is None else default
        return cast(str, v)

    def text(self, key: str, default: str = "") -> str:
        v = self.node.get(key, default)
        if not isinstance(v, str):
            self.bad(key, "a string")
            return default
        return v

    def segment(self, key: str) -> tuple[tuple[str, str], ...] | None:
        if key not in self.node:
            return None
        v = self.node[key]
        if (
            not isinstance(v, dict)
            or not v
            or not all(isinstance(k, str) and isinstance(x, str | int) for k, x in v.items())
        ):
            self.bad(key, "a mapping of segment labels, e.g. {region: eu}")
            return None
        return tuple(sorted((k, str(x)) for k, x in v.items()))
