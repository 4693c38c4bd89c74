"""Validated, immutable plans and rules (what :func:`monitor.core.load_plans` returns).

Durations are seconds (floats). A :class:`PlanSet` is the unit a :class:`~monitor.core.Core`
is built from; each plan carries a ``version`` (hash of what decides: its settings, stages
and every rule it uses, :func:`versioned`) that goes into command ids, so a changed rule set
never reuses an id, and the same plan read from another file keeps its ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Final, Literal

from topics.commands import Action

Op = Literal[">", ">=", "<", "<="]
NoData = Literal["hold", "ok", "fire"]
ThresholdKind = Literal["absolute", "learned", "vs_baseline", "burn_rate"]
Method = Literal[
    "",
    "sigma",
    "quantile",
    "score",
    "ratio",
    "difference",
    "sequential",
    "cusum",
    "cause_shift",
    "slowdown",
]
"""Names of the threshold methods of :mod:`monitor.core.thresholds` ("" a kind's only one)."""

RULE_ACTIONS: Final[tuple[Action, ...]] = (
    "halt",
    "rollback",
    "freeze",
    "pause",
    "reduce_scope",
    "hold",
)
"""Actions a rule may ask for (promote is the policy's, resume is human-only)."""

UNVERSIONED: Final = {"versioned": False}
"""Metadata of fields that decide nothing (where a rule was read, what it says of itself):
left out of a plan's version, so moving or commenting a plan keeps its command ids."""


@dataclass(frozen=True, slots=True)
class Threshold:
    """How a rule turns a signal value into a breach.

    ``absolute``: ``value op threshold``. ``learned``: against the variant's own learned
    baseline (``sigma``: mean ± k·σ; ``quantile``: the learned q-quantile × (1 + margin);
    ``score``: the anomaly score of ``detectors.default_scorer`` above ``value``, in the
    rule's direction). Baselines learn once per window, never from a pending or firing
    evaluation. ``vs_baseline``: against the
    baseline variant in the same window (``ratio``/``difference`` op ``value``;
    ``sequential``: an anytime-valid test that the variant's rate is worse, at level
    ``alpha``). ``burn_rate``: error-budget burn above ``factor`` in both ``long_s`` and
    ``short_s`` windows, budget ``1 - slo``; each window needs its own sample minimum
    (``long_min_samples`` / ``short_min_samples``, default the rule's ``min_samples``) before
    a burn counts: a 14.4x burn of a 0.1 % budget in 100 events is two errors.

    ``cusum`` (``absolute`` or ``vs_baseline``): per-event evidence that bad events became
    more frequent, a CUSUM of each step's counts (:class:`~detectors.BernoulliCusum`)
    that is breached from its alarm at ``h`` nats until the evidence is paid back to zero.
    Bad events and their reference rate ``p0``: for a rate signal, the rate's events
    (its complement for ``op: "<"``) against ``value`` (``absolute``) or the baseline
    variant's rate over ``window`` plus ``value`` (``vs_baseline``); for ``latency_pNN_ms``
    (``vs_baseline``), orders slower than ``value`` x the baseline variant's pNN over
    ``window``, whose rate is ``1 - NN/100`` exactly when the variant's pNN is ``value`` x
    the baseline's. The alternative is ``p0 + shift``; ``cap`` bounds the statistic.
    """

    kind: ThresholdKind
    op: Op = ">"
    value: float = 0.0
    method: Method = ""
    k: float = 3.0
    q: float = 0.99
    margin: float = 0.0
    min_delta: float = 0.0
    half_life_s: float = 3600.0
    min_history: int = 10
    market_guard: bool = False
    """``learned`` (sigma, quantile): the threshold is at least the baseline variant's value
    in the same window plus the band's width (a market-wide move does not breach)."""
    alpha: float = 0.05
    over: Literal["stage", "window"] = "stage"
    """``sequential``: ``stage`` tests the counts since the stage began and latches once
    significant; ``window`` tests the rule's sliding window, does not latch, and honours
    ``for`` (a blip shorter than ``for`` never acts)."""
    slo: float = 0.999
    factor: float = 14.4
    long_s: float = 3600.0
    short_s: float = 300.0
    long_min_samples: int = 0
    """``burn_rate``: events the long window needs for a verdict (0: the rule's min_samples)."""
    short_min_samples: int = 0
    """``burn_rate``: events the short window needs for a verdict (0: the rule's min_samples)."""
    shift: float = 0.0
    """``cusum``: the rise of the bad-event rate the test is tuned to (alternative p0 + shift)."""
    h: float = 0.0
    """``cusum``: alarm level, nats (log-likelihood ratio)."""
    cap: float = 0.0
    """``cusum``: ceiling of the statistic, nats (>= h)."""
    params: tuple[tuple[str, float], ...] = ()
    """Parameters of methods added after the fields above (sorted ``(name, value)``; see
    ``docs/core.md``). Left out of a plan's version while empty, so adding a method does
    not change the version (and command ids) of plans that do not use it."""
    against: Literal["baseline", "rest"] = "baseline"
    """``vs_baseline`` on a ``per_segment`` rule: ``rest`` takes the reference from the same
    variant's other segments instead of the baseline variant's same segment, so a change of
    the whole variant (a blip everywhere) is not a segment's regression."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One gating rule: a signal of one variant (and scope), a threshold, and timing."""

    name: str
    signal: str
    threshold: Threshold
    action: Action
    variant: str = "canary"
    segment: tuple[tuple[str, str], ...] | None = None  # filter: labels that must match
    per_segment: bool = False  # one alert instance per distinct segment
    segment_by: tuple[str, ...] = ()
    """``per_segment: [region]``: one instance per value of these labels (the segments that
    share them pooled); empty: per distinct full segment."""
    window_s: float = 60.0
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    eval_interval_s: float = 0.0  # 0: at every event-time step (per event)
    min_samples: int = 1
    no_data: NoData = "hold"
    severity: str = "warning"
    dry_run: bool = False
    description: str = field(default="", metadata=UNVERSIONED)
    source: str = field(default="", metadata=UNVERSIONED)
    """``file:line``, for messages."""


@dataclass(frozen=True, slots=True)
class Stage:
    """One step of a rollout: where the new path runs and what gates leaving it."""

    name: str
    traffic_pct: float | None = None
    segment: tuple[tuple[str, str], ...] | None = None
    hours_utc: tuple[float, float] | None = None  # promotion allowed in [start, end) h
    min_dwell_s: float = 0.0
    min_samples: int = 0
    max_duration_s: float | None = None
    signoffs: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()
    sample_variant: str = "canary"


@dataclass(frozen=True, slots=True)
class RolloutPlan:
    """A named rollout plan: stages in order plus the timing settings of its monitor."""

    name: str
    stages: tuple[Stage, ...]
    version: str
    description: str = field(default="", metadata=UNVERSIONED)
    dry_run: bool = False
    allowed_lateness_s: float = 2.0
    resolution_s: float = 1.0
    cooldown_s: float = 300.0
    status_tolerance_s: float = 30.0
    join_window_s: float = 5.0
    price_band_bps: float = 1.0
    source: str = field(default="", metadata=UNVERSIONED)

    def all_rules(self) -> list[Rule]:
        """Every distinct rule of every stage, in first-seen order."""
        seen: dict[str, Rule] = {}
        for stage in self.stages:
            for rule in stage.rules:
                seen.setdefault(rule.name, rule)
        return list(seen.values())

    def stage_index(self, name: str) -> int | None:
        for i, stage in enumerate(self.stages):
            if stage.name == name:
                return i
        return None


@dataclass(frozen=True, slots=True)
class PlanSet:
    """Plans by name, as loaded (and validated) from YAML files.

    Examples
    --------
    >>> from monitor.core import load_plans
    >>> ps = load_plans(["examples/plans/broker-bridge.yaml", "examples/rules/broker-gates.yaml"])
    >>> ps.names()
    ['bridge-routing-v2', 'bridge-routing-v2-shadow']
    >>> [s.traffic_pct for s in ps["bridge-routing-v2"].stages]
    [1.0, 5.0, 20.0, 50.0, 100.0]
    """

    plans: dict[str, RolloutPlan] = field(default_factory=dict)
    sources: tuple[str, ...] = ()

    def __getitem__(self, name: str) -> RolloutPlan:
        return self.plans[name]

    def __contains__(self, name: object) -> bool:
        return name in self.plans

    def names(self) -> list[str]:
        return sorted(self.plans)


def versioned(node: object) -> object:
    """What of a plan's parts decides, as builtins: dataclasses as dicts without their
    :data:`UNVERSIONED` fields, and without a threshold's ``params`` while empty (methods
    added later leave the versions of plans that do not use them alone).

    >>> from dataclasses import replace
    >>> rule = Rule("r", "error_rate", Threshold("absolute"), "rollback", source="a.yaml:3")
    >>> versioned(rule) == versioned(replace(rule, source="b/a.yaml:9", description="why"))
    True
    >>> versioned(rule) == versioned(replace(rule, threshold=Threshold("absolute", value=1)))
    False
    """
    if is_dataclass(node) and not isinstance(node, type):
        return {
            f.name: versioned(getattr(node, f.name))
            for f in fields(node)
            if f.metadata.get("versioned", True)
            and not (f.name == "params" and not getattr(node, f.name))
        }
    if isinstance(node, list | tuple):
        return [versioned(v) for v in node]
    if isinstance(node, dict):
        return {k: versioned(v) for k, v in node.items()}
    return node
