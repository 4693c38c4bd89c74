"""Checkpoints written by older versions of the core, upgraded to the current format.

Version 1 (before integer time): event times in float seconds, each rule instance as
``[name, segment, {alert: [...], learner, last_learn, first_value_at, latched, cusum:
[s, alarmed], advised, last: [...]}]``, the policy as a free dict. Version 2: times in
integer microseconds, :class:`~monitor.core.snapshot.RuleSnapshot` with the method's
memory in its own format. Tested on real version-1 checkpoints
(``tests/unit/core/fixtures``): a restored core continues with the same decisions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from monitor.core.snapshot import STATE_VERSION
from monitor.core.timebase import to_us
from topics.errors import RollguardError

Checkpoint = dict[str, object]


def _us(x: object) -> int | None:
    return None if x is None else to_us(float(x))  # type: ignore[arg-type]  # a JSON number


def _v1_rule(name: str, segment: str, old: Mapping[str, object]) -> Checkpoint:
    alert = old["alert"]
    assert isinstance(alert, list)
    if old.get("learner") is not None:
        memory: Checkpoint = {
            "learner": old["learner"],
            "last_learn": _us(old.get("last_learn")),
            "first_value_at": _us(old.get("first_value_at")),
        }
    elif isinstance(cusum := old.get("cusum"), list):
        memory = {"s": float(cusum[0]), "alarmed": bool(cusum[1])}
    else:
        memory = {"latched": bool(old.get("latched"))}
    last = old.get("last")
    return {
        "rule": name,
        "segment": segment,
        "alert": [alert[0], *(_us(t) for t in alert[1:])],
        "memory": memory,
        "advised": bool(old["advised"]),
        "last": None
        if not isinstance(last, list)
        else {
            "ts": _us(last[0]),
            "value": last[1],
            "baseline": last[2],
            "threshold": last[3],
            "samples": last[4],
            "active": last[5],
            "comparator": last[6],
            "stats": dict(last[7]),
            "signal_value": last[8] if len(last) > 8 else None,
        },
    }


def _v1(state: Mapping[str, object]) -> Checkpoint:
    new = {k: v for k, v in state.items() if k != "instances"}
    new["state_version"] = 2
    new["max_ts"] = _us(state["max_ts"])
    new["stage_started_at"] = _us(state["stage_started_at"])
    instances = state["instances"]
    assert isinstance(instances, list)
    new["rules"] = [_v1_rule(name, seg, old) for name, seg, old in instances]
    policy = dict(state["policy"])  # type: ignore[call-overload]  # a JSON object
    policy["last_ts"] = _us(policy.get("last_ts"))
    new["policy"] = policy
    return new


UPGRADES: Final[dict[int, Callable[[Mapping[str, object]], Checkpoint]]] = {1: _v1}
"""Version -> the function that turns it into the next version."""


def upgrade(rollout_id: str, state: Mapping[str, object]) -> Mapping[str, object]:
    """``state`` in the current format (:data:`~monitor.core.snapshot.STATE_VERSION`)."""
    version = state.get("state_version")
    while version != STATE_VERSION:
        step = UPGRADES.get(version) if isinstance(version, int) else None
        if step is None:
            raise RollguardError(f"rollout {rollout_id}: unknown state version {version!r}")
        try:
            state = step(state)
        except (KeyError, TypeError, ValueError, AssertionError) as exc:
            raise RollguardError(
                f"rollout {rollout_id}: unreadable version-{version} checkpoint ({exc!r})"
            ) from None
        version = state.get("state_version")
    return state
