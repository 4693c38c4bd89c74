"""The Prometheus state machine alone: scenario tables [(t, condition)] -> state at each t."""

from __future__ import annotations

import msgspec
import pytest

from monitor.core.alerting import AlertSnapshot, AlertState


def trace(condition: list[bool], *, for_s: float, keep: float = 0.0, every: int = 1) -> str:
    """State letter per second: i(nactive) p(ending) f(iring); '.' where not evaluated."""
    a = AlertState()
    out = []
    for t, active in enumerate(condition):
        if t % every:
            out.append(".")
            continue
        out.append(a.step(float(t), active, for_s=for_s, keep_firing_for_s=keep)[0])
    return "".join(out)


def cond(pattern: str) -> list[bool]:
    return [c == "1" for c in pattern]


@pytest.mark.parametrize(
    ("pattern", "for_s", "keep", "expected"),
    [
        # a blip shorter than `for` never fires
        ("0011100000", 5, 0, "iipppiiiii"),
        # a sustained breach fires exactly at onset + for (onset 2, for 5 -> 7)
        ("0011111111", 5, 0, "iippppppff"[:2] + "pppppfff"),
        # for = 0 fires at the first evaluation that sees it
        ("0010000000", 0, 0, "iifiiiiiii"),
        # keep_firing_for holds through a short recovery ...
        ("0111100110", 2, 3, "ippfffffff"),
        # ... and lets go once the recovery outlasts it (resolved at 3 s after clearing)
        ("0111000000", 2, 3, "ippffffiii"),
        # a pending alert whose condition clears is dropped, and starts over
        ("0110111000", 2, 0, "ippippfiii"),
    ],
)
def test_state_tables(pattern: str, for_s: float, keep: float, expected: str) -> None:
    assert trace(cond(pattern), for_s=for_s, keep=keep) == expected


def test_interval_evaluation_same_machine_fires_at_first_evaluation_after_onset_plus_for() -> None:
    # onset 3, for 5: per step it fires at 8; every 4 s evaluations at 0,4,8,12: the first
    # evaluation that sees the condition is 4 (pending from 4), so it fires at 12 (>= 4 + 5).
    pattern = cond("000" + "1" * 14)
    per_step = trace(pattern, for_s=5)
    per_interval = trace(pattern, for_s=5, every=4)
    assert per_step.index("f") == 8
    assert per_interval.index("f") == 12
    # identical semantics: at every common evaluation time the states agree once settled
    assert all(per_step[t] == per_interval[t] for t in range(0, 17, 4) if t >= 12 or t < 3)


def test_resolved_at_and_fired_at_recorded() -> None:
    a = AlertState()
    for t, active in enumerate(cond("0111100")):
        a.step(float(t), active, for_s=2, keep_firing_for_s=0)
    assert (a.fired_at, a.resolved_at, a.state) == (3.0, 5.0, "inactive")


def test_state_round_trip() -> None:
    a = AlertState()
    a.step(1_000_000, True, for_s=10_000_000, keep_firing_for_s=0)
    saved = msgspec.json.encode(a.snapshot())
    b = AlertState.restore(msgspec.json.decode(saved, type=AlertSnapshot))
    assert b.step(10_999_999, True, for_s=10_000_000, keep_firing_for_s=0) == "pending"
    assert b.step(11_000_000, True, for_s=10_000_000, keep_firing_for_s=0) == "firing"
