"""``{kind: vs_baseline, method: difference, op: ">", value: 0.01}``: against baseline + value."""

from __future__ import annotations

from monitor.core.model import Threshold
from monitor.core.thresholds._compare import Comparison
from monitor.core.thresholds.base import Observation


class Difference(Comparison):
    name = "difference"

    def reference(self, th: Threshold, value: float, ref: float, obs: Observation) -> float | None:
        obs.stats["difference"] = value - ref
        return ref + th.value


METHODS = (Difference(),)
