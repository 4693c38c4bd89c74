"""``{kind: absolute, op: ">", value: 0.02}``: the signal against a fixed number."""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor.core.model import Op, Threshold
from monitor.core.thresholds.base import OPS, Context, Instance, Method, Observation, observe_signal

if TYPE_CHECKING:
    from monitor.core.fields import Fields
    from monitor.core.scopes import Scope


class Absolute(Method):
    kind = "absolute"

    def parse(self, f: Fields, rule: Fields, signal: str, op: Op) -> Threshold:
        if "value" not in f.node:
            f.bad("value", "a number")
        return Threshold(kind="absolute", op=op, value=f.number("value"))

    def evaluate(
        self, inst: Instance, scope: Scope, base: Scope | None, ctx: Context
    ) -> Observation:
        th = inst.rule.threshold
        obs = Observation(ts=ctx.now, comparator=th.op)
        if observe_signal(inst.rule, scope, base, ctx, obs):
            assert obs.value is not None
            obs.threshold = th.value
            obs.active = OPS[th.op](obs.value, th.value)
        return obs


METHODS = (Absolute(),)
