"""Pure online models for rollguard: baselines, anomaly scores, change detectors, comparisons.

No Kafka, no clock, no I/O: event time is an argument (``ts``, seconds) and every detector's
state is plain JSON-able builtins (``state_dict()`` / ``from_state()``). The shared protocols are
in :mod:`detectors.typing`; warm-up is explicit (``ready``; no verdict before enough data).

=====================  ==================================================================
need                   use
=====================  ==================================================================
anomaly score          ``default_scorer()`` → :class:`AnomalyScorer` (``score_one``/``learn_one``)
mean / variance        :class:`EWMeanVar` (time-aware: half-life in seconds)
p50 / p95 / p99        :class:`QuantileSketch` (DDSketch-like, relative error α, mergeable)
rejection-cause mix    :func:`jensen_shannon` (the ``reject_mix_divergence`` signal)
rejection causes       :class:`SequentialMultinomialTest` (anytime-valid; rules' ``cause_shift``)
latency slowdown       :class:`SlowdownGroups` (per-step evidence; rules' ``slowdown``)
rate vs baseline       :func:`msprt_two_proportions` (mixture SPRT e-value; rules' ``sequential``)
bad-event rate rise    :class:`BernoulliCusum` (per-step counts; rules' ``cusum``)
=====================  ==================================================================

Which rule reaches which detector is in ``examples/README.md`` (a test keeps it true: a
detector no rule reaches is removed). Comparisons return a :class:`Comparison` (direction,
effect, interval, p-value / e-value, ``enough_data``). Benchmarks:
``python -m tests.bench.detectors.X`` for X in ``real_eval``, ``nab_eval``, ``nab_data``,
``cost`` (the scorer's evaluation: ``docs/detection.md``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from detectors.bernoulli import BernoulliCusum, bernoulli_llr
    from detectors.categorical import jensen_shannon
    from detectors.errors import DetectorError, DetectorStateError
    from detectors.ewstats import EWMeanVar
    from detectors.msprt import msprt_two_proportions
    from detectors.multinomial import SequentialMultinomialTest
    from detectors.quantiles import QuantileSketch
    from detectors.result import Comparison
    from detectors.scoring import AnomalyScorer, default_scorer
    from detectors.slowdown import SlowdownGroups
    from detectors.zscore import EWZScoreScorer

__all__ = [
    "AnomalyScorer",
    "BernoulliCusum",
    "Comparison",
    "DetectorError",
    "DetectorStateError",
    "EWMeanVar",
    "EWZScoreScorer",
    "QuantileSketch",
    "SequentialMultinomialTest",
    "SlowdownGroups",
    "bernoulli_llr",
    "default_scorer",
    "jensen_shannon",
    "msprt_two_proportions",
]

_HOME: Final = {
    "AnomalyScorer": "detectors.scoring",
    "BernoulliCusum": "detectors.bernoulli",
    "Comparison": "detectors.result",
    "DetectorError": "detectors.errors",
    "DetectorStateError": "detectors.errors",
    "EWMeanVar": "detectors.ewstats",
    "EWZScoreScorer": "detectors.zscore",
    "QuantileSketch": "detectors.quantiles",
    "SequentialMultinomialTest": "detectors.multinomial",
    "SlowdownGroups": "detectors.slowdown",
    "bernoulli_llr": "detectors.bernoulli",
    "default_scorer": "detectors.scoring",
    "jensen_shannon": "detectors.categorical",
    "msprt_two_proportions": "detectors.msprt",
}


def __getattr__(name: str) -> object:
    """Import ``name`` from its module on first use (PEP 562): a rule that needs one
    detector, and ``rollguard check`` that needs none, do not load scipy."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'detectors' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
