"""The pure core: plans and rules, metrics derivation, rule engine, decision policy.

One implementation of every rule, driven by event time only (no clock, no I/O), used by
the workers, ``rollguard replay``, the simulator and the tests through
:class:`~monitor.core.api.CoreProtocol`.

Public API::

    load_plans(paths) -> PlanSet                       # raises ConfigError (file:line, field)
    Core(plans, *, default_plan=None, monitor_version=..., command_ttl_s=300.0)
    core.process(events) -> list[Command]              # CoreProtocol
    core.rollouts() / export_state(rid) / import_state(rid, state) / forget(rid)
    core.view(rid) / gauges() / rule_states()
    core.advance_watermark(ts, rollout_id=None) -> list[Command]   # idle input
    core.counters(rid=None) -> {"late", "duplicates", "future", "events", ...}
    core.thresholds() / core.bands()                   # read by monitor.worker.metrics
    core.observer = callable(rollout, step)            # per evaluated step (replay reports)

Modules: see ``docs/core.md`` (rooms, time, state, how to add a threshold method or an
event kind).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor._lazy import exports

if TYPE_CHECKING:
    from monitor.core.config import load_plans
    from monitor.core.engine import Core
    from monitor.core.model import PlanSet, RolloutPlan, Rule, Stage, Threshold

__all__ = ["Core", "PlanSet", "RolloutPlan", "Rule", "Stage", "Threshold", "load_plans"]

_HOME = {
    "load_plans": "monitor.core.config",
    "Core": "monitor.core.engine",
    **dict.fromkeys(("PlanSet", "RolloutPlan", "Rule", "Stage", "Threshold"), "monitor.core.model"),
}


# imported on first use (PEP 562): `rollguard check` needs the loader, not the engine's
# detectors (scipy, river), which cost a second or more to import
__getattr__ = exports(__name__, _HOME)
