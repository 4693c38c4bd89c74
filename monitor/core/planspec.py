"""The fields of plan and rule files: one declaration read by the checker and the schema.

Each mapping of a plan file (the file, a plan, a stage, a rule, a threshold of each kind)
is a table of :class:`Spec`: the field's type, default, bounds, choices and meaning.
:mod:`monitor.core.config` reads its values through these tables (so a default or a bound
is written once), reports unknown fields against them, and
:mod:`monitor.core.plan_schema` turns the same tables into the JSON Schema that editors use
(``rollguard schema``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from monitor.core import signals
from monitor.core.model import RULE_ACTIONS

Kind = Literal[
    "duration",
    "number",
    "integer",
    "boolean",
    "choice",
    "text",
    "name",
    "names",
    "segment",
    "per_segment",
    "hours",
    "signal",
    "mapping",
    "list",
]

NAME_PATTERN: Final = r"^[A-Za-z0-9_.:/@+-]{1,128}$"
HOURS_PATTERN: Final = r"^([01]?[0-9]|2[0-4]):([0-5][0-9])-([01]?[0-9]|2[0-4]):([0-5][0-9])$"
DURATION_PATTERN: Final = r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$"
OPS: Final = (">", ">=", "<", "<=")
VARIANTS: Final = ("baseline", "canary", "shadow")
KINDS: Final = ("absolute", "learned", "vs_baseline", "burn_rate")


@dataclass(frozen=True, slots=True)
class Spec:
    """One field: its type, default (None: none), bounds, choices and what it means."""

    kind: Kind
    doc: str
    default: Any = None
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    positive: bool = False
    """durations: strictly positive."""
    required: bool = False


def _d(doc: str, default: float | None = None, *, positive: bool = False) -> Spec:
    return Spec("duration", doc, default, positive=positive)


FILE: Final = {
    "version": Spec("integer", "File format version: 1.", 1, lo=1, hi=1),
    "rule_sets": Spec("mapping", "Rule sets by name: each a list of rules."),
    "plans": Spec("mapping", "Rollout plans by name."),
}

PLAN: Final = {
    "description": Spec("text", "What the plan rolls out.", ""),
    "dry_run": Spec("boolean", "Every decision advisory (a shadow rollout).", False),
    "allowed_lateness": _d("Events older than newest - lateness are counted late.", 2.0),
    "resolution": _d("Event-time step of windows and evaluation.", 1.0, positive=True),
    "cooldown": _d("The same or a weaker action is not repeated within it.", 300.0),
    "status_tolerance": _d("How long systems may disagree on an object's state.", 30.0),
    "shadow_join_window": _d("Production/shadow pairs must meet within it.", 5.0, positive=True),
    "shadow_price_band_bps": Spec(
        "number", "Joined prices further apart than this do not match.", 1.0, lo=0.0
    ),
    "rules": Spec("names", "Rule sets gating every stage (a stage may override)."),
    "stages": Spec("list", "Stages, in order.", required=True),
}

STAGE: Final = {
    "name": Spec("name", "Stage name.", required=True),
    "traffic_pct": Spec("number", "Share of traffic on the new path, percent.", lo=0.0, hi=100.0),
    "segment": Spec("segment", "Segment labels the new path serves, e.g. {region: eu}."),
    "hours_utc": Spec("hours", "Promotion only inside this UTC window, e.g. 22:00-06:00."),
    "min_dwell": _d("Minimum time in the stage before promotion.", 0.0),
    "min_samples": Spec("integer", "Data events of sample_variant before promotion.", 0, lo=0),
    "max_duration": _d(
        "Time box: without a verdict by then, one hold (inconclusive).", positive=True
    ),
    "signoffs": Spec("names", "Roles that must sign off the promotion (cto, coo, ...)."),
    "rules": Spec("names", "Rule sets gating this stage (default: the plan's)."),
    "sample_variant": Spec(
        "choice", "Variant whose events count as samples.", "canary", choices=VARIANTS
    ),
}

RULE: Final = {
    "name": Spec("name", "Rule name, unique in its rule set.", required=True),
    "signal": Spec("signal", "What the rule watches.", required=True),
    "threshold": Spec("mapping", "How the signal becomes a breach.", required=True),
    "action": Spec("choice", "What a firing rule asks for.", choices=RULE_ACTIONS, required=True),
    "variant": Spec("choice", "Variant whose signal is watched.", "canary", choices=VARIANTS),
    "segment": Spec("segment", "Only events of these segment labels (a filter)."),
    "per_segment": Spec(
        "per_segment",
        "One alert per segment (true) or per value of these labels ([region]).",
        False,
    ),
    "window": _d("The signal is computed over this event-time window.", 60.0, positive=True),
    "for": _d("How long the condition must hold before firing.", 0.0),
    "keep_firing_for": _d("How long a firing rule stays on after clearing.", 0.0),
    "eval_interval": _d("Evaluate on this event-time grid (0: every step).", 0.0),
    "min_samples": Spec("integer", "Fewer samples in the window: no verdict.", 1, lo=0),
    "no_data": Spec(
        "choice",
        "No verdict: hold (state kept), ok (healthy) or fire.",
        "hold",
        choices=("hold", "ok", "fire"),
    ),
    "severity": Spec("text", "Free label (warning, critical, ...).", "warning"),
    "dry_run": Spec("boolean", "Advisory decisions only.", False),
    "description": Spec("text", "What the rule is for.", ""),
}

_CUSUM: Final = {
    "shift": Spec(
        "number", "cusum: the rise of the bad-event rate it is tuned to, in (0, 1).", lo=0.0, hi=1.0
    ),
    "h": Spec("number", "cusum, slowdown: alarm level, nats (> 0).", lo=0.0),
    "cap": Spec(
        "number", "cusum, slowdown: ceiling of the statistic, nats (>= h; default 2 h).", lo=0.0
    ),
}
THRESHOLD_COMMON: Final = {
    "kind": Spec(
        "choice", "absolute, learned, vs_baseline or burn_rate.", choices=KINDS, required=True
    ),
    "op": Spec("choice", "Direction of a breach.", ">", choices=OPS),
}
THRESHOLD: Final[dict[str, dict[str, Spec]]] = {
    "absolute": {
        "value": Spec("number", "The limit (a rate for a cusum).", required=True),
        "method": Spec(
            "choice", "cusum: per-event evidence against the rate `value`.", choices=("cusum",)
        ),
        **_CUSUM,
    },
    "learned": {
        "method": Spec(
            "choice",
            "Learned band: sigma, quantile or anomaly score.",
            "sigma",
            choices=("sigma", "quantile", "score"),
        ),
        "k": Spec("number", "sigma: band = mean ± k·σ.", 3.0, lo=0.0),
        "q": Spec("number", "quantile: the learned quantile.", 0.99, lo=0.0, hi=1.0),
        "margin": Spec("number", "quantile: limit = quantile × (1 + margin).", 0.0, lo=0.0),
        "value": Spec("number", "score: anomaly score limit.", 0.9, lo=0.0, hi=1.0),
        "min_delta": Spec("number", "Smallest band half-width.", 0.0, lo=0.0),
        "half_life": _d("Half-life of the learned baseline.", 3600.0, positive=True),
        "min_history": Spec("integer", "Windows learned before a verdict.", 10, lo=0),
        "market_guard": Spec(
            "boolean",
            "Limit at least the baseline variant's value plus "
            "the band (a market-wide move does not breach).",
            False,
        ),
    },
    "vs_baseline": {
        "method": Spec(
            "choice",
            "How the variant is compared with the baseline variant.",
            choices=("ratio", "difference", "sequential", "cusum", "cause_shift", "slowdown"),
            required=True,
        ),
        "value": Spec(
            "number",
            "ratio or difference limit; cusum: margin over the baseline "
            "(latency: ratio to its quantile).",
        ),
        "alpha": Spec(
            "number", "sequential, cause_shift: significance level.", 0.05, lo=1e-9, hi=0.5
        ),
        "prior": Spec(
            "number",
            "cause_shift: pseudo-count shrinking the learned odds of each cause towards 1.",
            1.0,
            lo=0.0,
        ),
        "ratio": Spec(
            "number",
            "slowdown: the variant's latencies as this multiple of the baseline's, the "
            "slowdown the test is tuned to (> 1).",
            1.06,
            lo=1.0,
        ),
        "over": Spec(
            "choice",
            "sequential: the stage's counts (latches) or the window's.",
            "stage",
            choices=("stage", "window"),
        ),
        "against": Spec(
            "choice",
            "per_segment cusum on a rate: baseline variant or the variant's other segments (rest).",
            "baseline",
            choices=("baseline", "rest"),
        ),
        **_CUSUM,
    },
    "burn_rate": {
        "slo": Spec(
            "number", "Success objective; the budget is 1 - slo.", 0.999, lo=0.0, hi=0.999999
        ),
        "factor": Spec("number", "Burn rate both windows must exceed.", 14.4, lo=0.0),
        "long": _d("Long window.", 3600.0, positive=True),
        "short": _d("Short window (shorter than long).", 300.0, positive=True),
        "long_min_samples": Spec(
            "integer", "Events the long window needs (0: min_samples).", 0, lo=0
        ),
        "short_min_samples": Spec(
            "integer", "Events the short window needs (0: min_samples).", 0, lo=0
        ),
    },
}


def threshold_fields(kind: str | None) -> dict[str, Spec]:
    """The fields a threshold of ``kind`` may have (all kinds' when the kind is unknown)."""
    if kind in THRESHOLD:
        return {**THRESHOLD_COMMON, **THRESHOLD[kind]}
    merged = dict(THRESHOLD_COMMON)
    for fields in THRESHOLD.values():
        for name, spec in fields.items():
            merged.setdefault(name, spec)
    return merged


def signal_names() -> list[str]:
    return sorted(signals.ALL_SIGNALS)
