"""Pure online models for rollguard: baselines, anomaly scores, change detectors, comparisons.

No Kafka, no clock, no I/O: event time is an argument and state is plain JSON-able builtins
(``state_dict()`` / ``from_state()``). The shared protocols are in :mod:`detectors.typing`.
"""

from __future__ import annotations

from detectors.categorical import CategoricalMix, chi_square_pvalue, jensen_shannon
from detectors.drawdown import Drawdown
from detectors.errors import DetectorError, DetectorStateError
from detectors.ewstats import EWMeanVar
from detectors.proportions import Proportion, jeffreys_interval, wilson_interval
from detectors.quantiles import QuantileSketch
from detectors.robust import RobustBaseline

__all__ = [
    "CategoricalMix",
    "DetectorError",
    "DetectorStateError",
    "Drawdown",
    "EWMeanVar",
    "Proportion",
    "QuantileSketch",
    "RobustBaseline",
    "chi_square_pvalue",
    "jeffreys_interval",
    "jensen_shannon",
    "wilson_interval",
]
