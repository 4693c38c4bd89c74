"""``{kind: vs_baseline, method: ratio, op: ">", value: 1.3}``: against value x baseline."""

from __future__ import annotations

from monitor.core.model import Threshold
from monitor.core.thresholds._compare import Comparison
from monitor.core.thresholds.base import Observation


class Ratio(Comparison):
    name = "ratio"

    def reference(self, th: Threshold, value: float, ref: float, obs: Observation) -> float | None:
        if ref <= 0:
            return None  # no ratio to a baseline variant at zero: no verdict
        obs.stats["ratio"] = value / ref
        return ref * th.value


METHODS = (Ratio(),)
