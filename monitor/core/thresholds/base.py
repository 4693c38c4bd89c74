"""What every threshold method implements, and what it sees at one evaluation step.

A threshold method (``kind`` + ``method`` in a rule's YAML) owns, in its one module: its
YAML fields (:meth:`ThresholdMethod.parse`) and rule-level checks, what it reads of the
baseline variant, its per-instance memory (learned baseline, CUSUM, latch), its per-step
statistic (:meth:`ThresholdMethod.evaluate`) and how it explains and plots itself.
:class:`Method` gives the defaults most methods keep.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, NamedTuple, Protocol

import msgspec

from monitor.core import signals
from monitor.core.buckets import REJECTED
from monitor.core.model import Method as MethodName
from monitor.core.model import Op, Rule, Threshold, ThresholdKind
from monitor.core.timebase import Micros

if TYPE_CHECKING:
    from monitor.core.alerting import AlertState
    from monitor.core.fields import Fields
    from monitor.core.scopes import Scope

OPS: Final[dict[str, Callable[[float, float], bool]]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


class Observation(msgspec.Struct, kw_only=True):
    """One evaluation of a rule at event time ``ts`` (the core's µs); checkpointed as is."""

    ts: Micros
    value: float | None = None
    baseline: float | None = None
    threshold: float | None = None
    samples: float = 0.0
    active: bool | None = None  # None: no data or below the minimum sample gate
    comparator: str = ">"
    stats: dict[str, float] = msgspec.field(default_factory=dict)
    signal_value: float | None = None
    """The signal over the window where ``value`` is a test statistic (cusum), for gauges."""


@dataclass(slots=True)
class Context:
    """What a rule may read at one step besides its own scope."""

    ts: float
    """Event time of the step, seconds (for gauges of event times, e.g. freshness)."""
    now: Micros
    """The same, in the core's integer µs (what an :class:`Observation` carries)."""
    step: int
    resolution_s: float
    mismatches: dict[str, list[str]]  # variant -> objects in mismatch beyond tolerance


class Plot(NamedTuple):
    """One evaluation on a chart: the signal beside its reference and limit in the signal's
    unit, and a test's statistic beside its alarm level."""

    value: float | None
    reference: float | None
    limit: float | None
    statistic: float | None = None
    level: float | None = None
    fill_reference: bool = True
    """Without a reference, show the baseline variant's value of the signal."""


class Memory(Protocol):
    """What one rule instance of a method keeps between steps (checkpointed)."""

    def reset_stage(self) -> None:
        """A new stage begins."""

    def no_reference(self) -> None:
        """A step without the baseline variant to compare with."""

    def to_state(self) -> dict[str, object]:
        """JSON-able builtins; the method's :meth:`ThresholdMethod.restore` reads them."""
        ...


class Instance(Protocol):
    """What a method reads of the rule instance it evaluates."""

    @property
    def rule(self) -> Rule: ...
    @property
    def alert(self) -> AlertState: ...
    @property
    def memory(self) -> Memory | None: ...


class ThresholdMethod(Protocol):
    """One threshold method (see the module doc); registered in :mod:`.thresholds`."""

    kind: ThresholdKind
    name: MethodName
    compares: bool
    """Without the baseline variant (all traffic on the new path) it has no verdict."""

    def parse(self, f: Fields, rule: Fields, signal: str, op: Op) -> Threshold:
        """The threshold's fields from YAML, each problem recorded on ``f`` / ``rule``."""
        ...

    def check_rule(self, rule: Rule, f: Fields) -> None:
        """Checks that need the whole rule (its ``for``, ``eval_interval``, ...)."""

    def rule_window_s(self, th: Threshold, window_s: float) -> float:
        """The rule's window (what evidence and plots show) given its ``window`` field."""
        ...

    def reads_baseline(self, th: Threshold) -> bool:
        """Whether its evaluation reads the baseline variant's scope."""
        ...

    def window_steps(self, rule: Rule, resolution_s: float) -> list[int]:
        """Window lengths (steps) the rule's scopes must carry."""
        ...

    def stage_totals(self, th: Threshold) -> bool:
        """Whether it reads totals since the stage began instead of windows."""
        ...

    def memory(self, rule: Rule) -> Memory | None: ...

    def restore(self, rule: Rule, state: dict[str, object]) -> Memory | None: ...

    def evaluate(
        self, inst: Instance, scope: Scope, base: Scope | None, ctx: Context
    ) -> Observation:
        """The per-step statistic and whether the condition holds (``active``)."""
        ...

    def learn(self, inst: Instance, obs: Observation, resolution_s: float) -> None:
        """After the alert stepped: feed what the method learns (learned baselines)."""

    def plot(self, obs: Observation, th: Threshold) -> Plot:
        """What a report's chart draws of one evaluation."""
        ...

    def reference_label(self, th: Threshold) -> str: ...

    def statistic_label(self, th: Threshold) -> str | None:
        """What its test statistic is called on charts (None: it has none)."""
        ...

    def gauge(self, obs: Observation) -> float | None:
        """The signal's current value for dashboards (None: nothing to show)."""
        ...

    def band(self, obs: Observation) -> tuple[float, float] | None:
        """The learned normal band (lower, upper), for learned methods."""
        ...


class Method:
    """Defaults of :class:`ThresholdMethod`: a windowed signal, no memory, plain wording."""

    kind: ThresholdKind
    name: MethodName = ""
    compares = False

    def check_rule(self, rule: Rule, f: Fields) -> None:
        return None

    def rule_window_s(self, th: Threshold, window_s: float) -> float:
        return window_s

    def reads_baseline(self, th: Threshold) -> bool:
        return self.compares

    def window_steps(self, rule: Rule, resolution_s: float) -> list[int]:
        return [max(1, round(rule.window_s / resolution_s))]

    def stage_totals(self, th: Threshold) -> bool:
        return False

    def memory(self, rule: Rule) -> Memory | None:
        return None

    def restore(self, rule: Rule, state: dict[str, object]) -> Memory | None:
        return self.memory(rule)

    def learn(self, inst: Instance, obs: Observation, resolution_s: float) -> None:
        return None

    def plot(self, obs: Observation, th: Threshold) -> Plot:
        return Plot(obs.value, obs.baseline, obs.threshold)

    def reference_label(self, th: Threshold) -> str:
        return "baseline"

    def statistic_label(self, th: Threshold) -> str | None:
        return None

    def gauge(self, obs: Observation) -> float | None:
        return obs.value

    def band(self, obs: Observation) -> tuple[float, float] | None:
        return None


def gauge_value(rule: Rule, scope: Scope, ctx: Context) -> tuple[float | None, float]:
    """A gauge signal's value (no window): freshness, mismatches, P&L, drawdown."""
    if rule.signal == "freshness_s":
        if scope.last_seen is None:
            return None, 0.0
        return max(0.0, ctx.ts - scope.last_seen), 1.0
    if rule.signal == "status_mismatches":
        return float(len(ctx.mismatches.get(rule.variant, ()))), 1.0
    if scope.pnl_n <= 0:
        return None, 0.0
    if rule.signal == "pnl_cum":
        return scope.pnl_cum, scope.pnl_n
    return scope.pnl_peak - scope.pnl_cum, scope.pnl_n  # drawdown


def observe_signal(
    rule: Rule, scope: Scope, base: Scope | None, ctx: Context, obs: Observation
) -> bool:
    """Put the rule's signal value and samples on ``obs``; True when there is a verdict
    to compute (a value and at least the rule's minimum of samples)."""
    wsteps = round(rule.window_s / ctx.resolution_s)
    if rule.signal in signals.GAUGE_SIGNALS:
        value, samples = gauge_value(rule, scope, ctx)
    elif rule.signal == "reject_mix_divergence":
        from detectors import jensen_shannon  # here: scipy only for plans that use it

        if base is None:
            return False
        mine, theirs = scope.windows[wsteps], base.windows[wsteps]
        samples = min(mine.c[REJECTED], theirs.c[REJECTED])
        value = jensen_shannon(mine.reasons, theirs.reasons) if samples > 0 else None
    else:
        value, samples = signals.window_value(rule.signal, scope.windows[wsteps], rule.window_s)
    obs.value, obs.samples = value, samples
    return value is not None and samples >= rule.min_samples


def baseline_value(rule: Rule, base: Scope | None, ctx: Context) -> tuple[float | None, float]:
    """The rule's signal on the baseline variant's scope over the rule's window."""
    if base is None:
        return None, 0.0
    wsteps = round(rule.window_s / ctx.resolution_s)
    return signals.window_value(rule.signal, base.windows[wsteps], rule.window_s)


def finite(x: float | None) -> float | None:
    """JSON-safe float: None for missing or non-finite values.

    Always a float (integer sums such as P&L would otherwise encode as ``629`` and decode
    as ``629.0``, changing the canonical bytes a signature covers).

    >>> finite(629), finite(float("inf")), finite(None)
    (629.0, None, None)
    """
    return float(x) if x is not None and math.isfinite(x) else None
