"""A small deterministic order-flow stream for examples, tests and the replay benchmark.

Not the simulator (that one models markets and LP outages): just baseline + canary + shadow
traffic over a few segments, with an optional canary regression from a given second, so a
plan can be replayed end to end. Same arguments, same events.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from topics.events import Event, Metric, Order, Plan, Shadow, Signoff, Status

REGIONS = ("eu", "us", "apac")
REJECT_REASONS = ("no_liquidity", "price_moved", "risk_limit", "market_closed")


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """Shape of the synthetic stream.

    ``regress_at``: seconds after start when the canary's error rate becomes
    ``regress_error_rate`` and its latency is multiplied by ``regress_latency_x``.
    """

    rollout_id: str = "bridge-v2-rollout"
    plan: str = "bridge-routing-v2"
    start: float = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    seconds: int = 3600
    baseline_per_s: int = 40
    canary_per_s: int = 20
    shadow_per_s: int = 10
    seed: int = 7
    error_rate: float = 0.004
    regress_at: float | None = None
    regress_error_rate: float = 0.08
    regress_latency_x: float = 2.0
    signoffs_at: float | None = 60.0


def generate(spec: StreamSpec) -> list[Event]:
    """Events in production order (per second: registration/sign-offs, orders, shadows)."""
    rng = random.Random(spec.seed)
    rid = spec.rollout_id
    out: list[Event] = [
        Plan(
            v=1,
            rollout_id=rid,
            variant="canary",
            ts=spec.start,
            action="registered",
            plan=spec.plan,
        )
    ]
    n = 0
    for sec in range(spec.seconds):
        t0 = spec.start + sec
        if spec.signoffs_at is not None and sec == int(spec.signoffs_at):
            for stage, role in (
                ("canary-20", "cto"),
                ("canary-50", "cto"),
                ("canary-50", "coo"),
                ("full", "cto"),
                ("full", "coo"),
                ("full", "compliance"),
            ):
                out.append(
                    Signoff(
                        v=1,
                        rollout_id=rid,
                        variant="canary",
                        ts=t0,
                        stage=stage,
                        role=role,
                        by=f"{role}@broker.example",
                    )
                )
        bad = spec.regress_at is not None and sec >= spec.regress_at
        variant: Any
        for variant, count in (("baseline", spec.baseline_per_s), ("canary", spec.canary_per_s)):
            err_p = spec.regress_error_rate if bad and variant == "canary" else spec.error_rate
            lat_x = spec.regress_latency_x if bad and variant == "canary" else 1.0
            for i in range(count):
                n += 1
                ts = t0 + (i + 0.5) / count
                region = REGIONS[n % 3]
                u = rng.random()
                ref = 1.1000 + rng.gauss(0.0, 0.0005)
                status: Any
                error: Any
                if u < err_p:
                    status, error, reason = "timed_out", "timeout", None
                elif u < err_p + 0.02:
                    status, error, reason = "rejected", None, REJECT_REASONS[n % 4]
                else:
                    status, error, reason = "filled", None, None
                out.append(
                    Order(
                        v=1,
                        rollout_id=rid,
                        variant=variant,
                        ts=ts,
                        segment={"region": region},
                        corr_id=f"c{n}",
                        order_id=f"o{n}",
                        status=status,
                        error=error,
                        reject_reason=reason,
                        latency_ms=rng.lognormvariate(2.3, 0.35) * lat_x,
                        lp=f"lp{n % 4}",
                        symbol="EURUSD",
                        qty=1.0,
                        filled_qty=1.0 if status == "filled" else 0.0,
                        price=ref * (1 + rng.gauss(0.0, 2e-5)) if status == "filled" else None,
                        ref_price=ref if status == "filled" else None,
                        pnl_minor=rng.randint(-300, 320) if status == "filled" else None,
                        currency="USD" if status == "filled" else None,
                    )
                )
        for i in range(spec.shadow_per_s):
            n += 1
            ts = t0 + (i + 0.25) / spec.shadow_per_s
            region = REGIONS[n % 3]
            route = f"lp{rng.randrange(3)}"
            price = 1.1 + rng.gauss(0.0, 0.0005)
            for variant, lag in (("baseline", 0.0), ("shadow", 0.05)):
                same = variant == "baseline" or rng.random() < 0.995
                out.append(
                    Shadow(
                        v=1,
                        rollout_id=rid,
                        variant=variant,
                        ts=ts + lag,
                        segment={"region": region},
                        corr_id=f"s{n}",
                        route=route if same else "lp9",
                        outcome="accept",
                        price=price,
                        latency_ms=rng.lognormvariate(1.5, 0.3),
                    )
                )
        if sec % 10 == 0:
            obj = f"pay{sec}"
            for system in ("payments", "crm"):
                out.append(
                    Status(
                        v=1,
                        rollout_id=rid,
                        variant="canary",
                        ts=t0 + 0.3,
                        object_id=obj,
                        system=system,
                        state="confirmed",
                    )
                )
            out.append(
                Metric(
                    v=1,
                    rollout_id=rid,
                    variant="canary",
                    ts=t0 + 0.9,
                    name="cpu_pct",
                    value=40 + 10 * rng.random(),
                )
            )
    return out
