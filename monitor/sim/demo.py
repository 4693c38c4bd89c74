"""The demo's three rollouts on one shared market (``rollguard demo`` drives them live).

* ``healthy``: nothing breaks; meant to be promoted through every stage.
* ``latency``: a canary latency blip (shorter than the rollback rule's ``for``: must be
  ignored), then a sustained latency regression (must be rolled back).
* ``shadow``: a shadow-only rollout whose routing starts to disagree with production (must be
  frozen; the shadow plan is a dry run, so the freeze is advisory).
"""

from __future__ import annotations

from monitor.sim.faults import Fault
from monitor.sim.flow import RolloutSpec
from monitor.sim.generate import DEFAULT_START_TS, Simulation
from monitor.sim.scenarios import Expectation, Scenario


def demo_scenarios(
    *,
    duration_s: float = 1200.0,
    blip_at_s: float = 240.0,
    blip_s: float = 25.0,
    regression_at_s: float = 600.0,
    latency_mult: float = 2.0,
    shadow_at_s: float = 480.0,
    shadow_mismatch: float = 0.12,
) -> dict[str, Scenario]:
    """The three scenarios by role, with their ground truth (times after the start)."""
    if not blip_at_s + blip_s < regression_at_s < duration_s:
        raise ValueError("the blip must end before the regression starts, within duration")
    healthy = Scenario("demo_healthy", "nothing breaks", duration_s)
    latency = Scenario(
        "demo_latency",
        f"latency blip x3 for {blip_s:.0f} s at {blip_at_s:.0f} s (ignore), "
        f"then x{latency_mult:.1f} from {regression_at_s:.0f} s (roll back)",
        duration_s,
        (
            Fault("latency", blip_at_s, blip_at_s + blip_s, magnitude=3.0),
            Fault("latency", regression_at_s, magnitude=latency_mult),
        ),
        Expectation("rollback", onset_s=regression_at_s, variant="canary", sustained=True),
    )
    shadow = Scenario(
        "demo_shadow",
        f"shadow routes {shadow_mismatch:.0%} elsewhere from {shadow_at_s:.0f} s (freeze)",
        duration_s,
        (Fault("shadow_mismatch", shadow_at_s, magnitude=shadow_mismatch, target="shadow"),),
        Expectation("freeze", onset_s=shadow_at_s, variant="shadow", sustained=True),
    )
    return {"healthy": healthy, "latency": latency, "shadow": shadow}


def demo_streams(
    *,
    seed: int = 0,
    start_ts: float = DEFAULT_START_TS,
    prefix: str = "demo",
    canary_plan: str = "bridge-routing-v2",
    shadow_plan: str = "bridge-routing-v2-shadow",
    traffic_pct: float = 5.0,
    order_rate: float = 80.0,
    raw: bool = False,
    **timeline: float,
) -> Simulation:
    """One :class:`Simulation` with the demo's three rollouts (ids ``<prefix>-healthy``,
    ``<prefix>-latency``, ``<prefix>-shadow``); ``timeline`` goes to :func:`demo_scenarios`.

    >>> sim = demo_streams(duration_s=700.0, blip_at_s=100.0, regression_at_s=400.0,
    ...                    shadow_at_s=300.0)
    >>> sorted({e.rollout_id for e in sim.step()})
    ['demo-healthy', 'demo-latency', 'demo-shadow']
    """
    sc = demo_scenarios(**timeline)
    specs = [
        RolloutSpec(
            f"{prefix}-healthy",
            sc["healthy"],
            plan=canary_plan,
            traffic_pct=traffic_pct,
            shadow=False,
            order_rate=order_rate,
        ),
        RolloutSpec(
            f"{prefix}-latency",
            sc["latency"],
            plan=canary_plan,
            traffic_pct=traffic_pct,
            shadow=False,
            order_rate=order_rate,
        ),
        RolloutSpec(
            f"{prefix}-shadow",
            sc["shadow"],
            plan=shadow_plan,
            canary=False,
            shadow=True,
            shadow_fraction=0.5,
            order_rate=order_rate,
        ),
    ]
    return Simulation(specs, seed=seed, start_ts=start_ts, raw=raw)
