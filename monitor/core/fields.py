"""Typed getters over YAML mappings that collect precise errors instead of raising.

Each problem becomes one line ``file:line: where: field 'x': expected ...; got ...``;
:func:`monitor.core.config.load_plans` gathers them all and raises one ConfigError.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Final, cast

from monitor.core.planspec import DURATION_PATTERN, Spec
from monitor.core.yamlload import LocatedDict

_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION: Final = re.compile(DURATION_PATTERN)


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

    def note(self, line: int, where: str, field: str, text: str) -> None:
        """A problem that is not "expected X, got Y" (a misspelt field)."""
        self.errors.append(f"{self.source}:{line}: {where}: field '{field}': {text}")


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
    """Typed getters over one YAML mapping that record errors instead of raising.

    ``spec`` (:mod:`monitor.core.planspec`) gives each field's default, bounds and choices
    (a getter's own arguments override them) and the known fields. An unknown field close
    to a known one that is missing is reported once, with "did you mean", and that missing
    field is not reported again.
    """

    def __init__(
        self,
        ctx: Ctx,
        node: LocatedDict,
        where: str,
        prefix: str = "",
        spec: Mapping[str, Spec] | None = None,
    ) -> None:
        self.ctx, self.node, self.where, self.prefix = ctx, node, where, prefix
        self.spec: Mapping[str, Spec] = spec or {}
        self.misspelt: dict[str, str] = {}  # intended field -> the key written instead

    def line(self, key: str) -> int:
        return self.node.key_lines.get(key, self.node.line)

    def bad(self, key: str, expected: str) -> None:
        if key not in self.node and key in self.misspelt:
            return  # already reported as the misspelt field
        self.ctx.error(
            self.line(key), self.where, self.prefix + key, expected, self.node.get(key, MISSING)
        )

    def unknown(self, allowed: Iterable[str] | None = None, what: str = "") -> None:
        """Report each key not in ``allowed`` (default: the spec's fields)."""
        known = sorted(self.spec if allowed is None else allowed)
        for key in self.node:
            if key in known:
                continue
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.7)
            if close and close[0] not in self.node:
                self.misspelt[close[0]] = key
                self.ctx.note(
                    self.line(key),
                    self.where,
                    self.prefix + key,
                    f"unknown field; did you mean '{close[0]}'?",
                )
                continue
            self.bad(key, (what or "one of the known fields") + " " + ", ".join(known))

    def _get(self, key: str) -> Spec:
        return self.spec.get(key) or Spec("text", "")

    def duration(
        self, key: str, default: float | object | None = MISSING, *, positive: bool | None = None
    ) -> float | None:
        spec = self._get(key)
        fallback = cast("float | None", spec.default if default is MISSING else default)
        strict = spec.positive if positive is None else positive
        if key not in self.node:
            return fallback
        seconds = parse_duration(self.node[key])
        if seconds is None or (strict and seconds <= 0):
            kind = "a positive duration" if strict else "a duration"
            self.bad(key, f"{kind} like 30s, 5m, 1h (or seconds)")
            return fallback
        return seconds

    def number(
        self,
        key: str,
        default: float | None = None,
        lo: float | object | None = MISSING,
        hi: float | object | None = MISSING,
    ) -> float:
        spec = self._get(key)
        given = spec.default if default is None else default
        fallback = 0.0 if given is None else float(given)
        low = cast("float | None", spec.lo if lo is MISSING else lo)
        high = cast("float | None", spec.hi if hi is MISSING else hi)
        if key not in self.node:
            return fallback
        v = self.node[key]
        ok = isinstance(v, int | float) and not isinstance(v, bool)
        if ok and ((low is not None and v < low) or (high is not None and v > high)):
            ok = False
        if not ok:
            bounds = (
                f" in [{low}, {high}]"
                if low is not None and high is not None
                else (f" >= {low}" if low is not None else "")
            )
            self.bad(key, f"a number{bounds}")
            return fallback
        return float(v)

    def integer(self, key: str, default: int | None = None) -> int:
        spec = self._get(key)
        fallback = int(spec.default or 0) if default is None else default
        v = self.node.get(key, fallback)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            self.bad(key, "a non-negative integer")
            return fallback
        return v

    def boolean(self, key: str, default: bool | None = None) -> bool:
        spec = self._get(key)
        fallback = bool(spec.default) if default is None else default
        v = self.node.get(key, fallback)
        if not isinstance(v, bool):
            self.bad(key, "true or false")
            return fallback
        return v

    def choice(
        self,
        key: str,
        options: Sequence[str] | None = None,
        default: str | object | None = MISSING,
    ) -> str:
        spec = self._get(key)
        choices = tuple(spec.choices if options is None else options)
        fallback = cast("str | None", spec.default if default is MISSING else default)
        v = self.node.get(key, MISSING if fallback is None else fallback)
        if v not in choices:
            self.bad(key, "one of " + ", ".join(repr(o) for o in choices))
            return choices[0] if fallback is None else fallback
        return cast(str, v)

    def text(self, key: str, default: str | None = None) -> str:
        fallback = str(self._get(key).default or "") if default is None else default
        v = self.node.get(key, fallback)
        if not isinstance(v, str):
            self.bad(key, "a string")
            return fallback
        return v

    def segment(self, key: str) -> tuple[tuple[str, str], ...] | None:
        if key not in self.node:
            return None
        v = self.node[key]
        if (
            not isinstance(v, dict)
            or not v
            or not all(
                isinstance(k, str) and isinstance(x, str | int) and not isinstance(x, bool)
                for k, x in v.items()
            )
        ):
            self.bad(key, "a mapping of segment labels, e.g. {region: eu}")
            return None
        return tuple(sorted((k, str(x)) for k, x in v.items()))
