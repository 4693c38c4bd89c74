"""The pure core: plans and rules, metrics derivation, rule engine, decision policy.

One implementation of every rule, driven by event time only (no clock, no I/O), used by
the workers, ``rollguard replay``, the simulator and the tests through
:class:`~monitor.core.api.CoreProtocol`.
"""

from __future__ import annotations

from monitor.core.config import load_plans
from monitor.core.engine import Core
from monitor.core.model import PlanSet, RolloutPlan, Rule, Stage, Threshold

__all__ = ["Core", "PlanSet", "RolloutPlan", "Rule", "Stage", "Threshold", "load_plans"]
