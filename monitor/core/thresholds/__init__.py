"""Threshold methods: one module each, found here by ``(kind, method)``.

Config parses a rule's ``threshold:`` through :func:`parse`; the rule engine, metrics
derivation, replay plots, dashboards and the decision policy ask the rule's method
(:func:`method_of`) instead of testing ``kind`` and ``method`` strings. What a method is
and does: :class:`~monitor.core.thresholds.base.ThresholdMethod`; how to add one:
``docs/core.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Final

from monitor.core import signals
from monitor.core.model import Op, Rule, Threshold, ThresholdKind
from monitor.core.thresholds.base import (
    Context,
    Memory,
    Observation,
    ThresholdMethod,
    finite,
)

if TYPE_CHECKING:
    from monitor.core.fields import Fields

__all__ = [
    "KINDS",
    "Context",
    "Memory",
    "Observation",
    "ThresholdMethod",
    "compares",
    "finite",
    "load_detectors",
    "method_of",
    "parse",
    "reads_baseline",
]

MODULES: Final = (
    "absolute",
    "sigma",
    "quantile",
    "score",
    "ratio",
    "difference",
    "sequential",
    "cusum",
    "burn_rate",
    "cause_shift",
    "slowdown",
)
"""The method modules, in the order their names are listed in messages."""

REGISTRY: Final[dict[tuple[str, str], ThresholdMethod]] = {}
for _module in MODULES:
    for _method in importlib.import_module(f"{__name__}.{_module}").METHODS:
        REGISTRY[(_method.kind, _method.name)] = _method

KINDS: Final[tuple[ThresholdKind, ...]] = tuple(dict.fromkeys(m.kind for m in REGISTRY.values()))
_OPS: Final[dict[str, Op]] = {">": ">", ">=": ">=", "<": "<", "<=": "<="}
DEFAULT_METHOD: Final[dict[str, str | None]] = {"learned": "sigma", "vs_baseline": None}
"""A kind's method when ``method`` is not given (None: required); else its unnamed method."""


RULE_DETECTORS: Final = (
    "EWMeanVar",
    "QuantileSketch",
    "default_scorer",
    "BernoulliCusum",
    "msprt_two_proportions",
    "jensen_shannon",
    "SequentialMultinomialTest",
    "SlowdownGroups",
)
"""What the methods (and the ``reject_mix_divergence`` signal) take from ``detectors``."""


def load_detectors() -> None:
    """Import the detectors rules use (scipy with them) now, when a :class:`Core` is built:
    ``rollguard check`` never pays for them, and a worker pays before it serves, not in its
    first step (an import holds the GIL for seconds on a loaded host: HTTP routes wait)."""
    import detectors

    for name in RULE_DETECTORS:
        getattr(detectors, name)


def method_of(th: Threshold) -> ThresholdMethod:
    """The method of a (validated) threshold."""
    return REGISTRY[(th.kind, th.method)]


def reads_baseline(rule: Rule) -> bool:
    """Whether the rule reads the baseline variant's scopes (its method's or its signal's
    comparison): the one place that says so."""
    return rule.signal in signals.CROSS_SIGNALS or method_of(rule.threshold).reads_baseline(
        rule.threshold
    )


def compares(rule: Rule) -> bool:
    """Whether the rule has no verdict without the baseline variant (all traffic on the
    new path): such rules neither fire nor block promotion there."""
    return rule.signal in signals.CROSS_SIGNALS or method_of(rule.threshold).compares


def parse(f: Fields, rule: Fields, signal: str) -> Threshold:
    """A rule's ``threshold:`` mapping (``f``), its problems recorded on ``f`` / ``rule``."""
    kind = f.choice("kind", KINDS)
    op = _OPS[f.choice("op")]
    named = [name for k, name in REGISTRY if k == kind and name]
    if kind in DEFAULT_METHOD:
        name = f.choice("method", named, DEFAULT_METHOD[kind])
    elif "method" in f.node and named:
        name = f.choice("method", named, None)
    else:
        name = ""
    return REGISTRY[(kind, name)].parse(f, rule, signal, op)
