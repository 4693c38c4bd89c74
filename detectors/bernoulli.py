"""Page's CUSUM of per-step Bernoulli counts: "bad events became more frequent than p0".

Fed once per evaluation step with that step's counts (the log-likelihood ratio of a step is
the sum over its events, so the evidence is per event whatever the step's length). It alarms
at ``h``, stays alarmed until the evidence is paid back to zero, and never holds more than
``cap``, so a blip's evidence drains within ``cap / |drift|`` of its end. Rules reach it with
``threshold: {method: cusum}`` (``monitor.core.thresholds.cusum``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Self

from detectors._common import check_state, header


def bernoulli_llr(bad: float, n: float, p0: float, p1: float) -> float:
    """Log-likelihood ratio of ``bad`` bad events in ``n`` under rate ``p1`` vs ``p0``.

    Examples
    --------
    >>> round(bernoulli_llr(1, 1, 0.01, 0.05), 3)  # one bad event: log(5)
    1.609
    >>> bernoulli_llr(0, 100, 0.01, 0.05) < 0  # a hundred good ones speak for p0
    True
    """
    if n <= 0:
        return 0.0
    return bad * math.log(p1 / p0) + (n - bad) * math.log((1.0 - p1) / (1.0 - p0))


class BernoulliCusum:
    """Page's CUSUM of per-step Bernoulli counts with an alarm latch and a ceiling.

    ``S = min(cap, max(0, S + LLR))``; ``alarmed`` turns on when ``S >= h`` and off only
    when ``S`` is back at 0: once the evidence crossed ``h`` the change is taken as on
    until the stream has paid all of it back. Under the reference rate ``S`` drifts down,
    under the alternative up; ``cap`` bounds how long a past excursion (a blip) lingers.
    No warm-up (``ready`` is always true): each step's counts are their own evidence.
    Non-finite counts are ignored (a caller bug must not poison the statistic).

    Examples
    --------
    Reference 1 %, alternative 5 %, alarm at 3 nats (two bad events are not enough):

    >>> c = BernoulliCusum()
    >>> [c.step(x, 10, 0.01, 0.05, h=3.0, cap=6.0) for x in (1, 1, 0, 1)]
    [False, False, False, True]
    >>> c.alarmed, round(c.s, 2)
    (True, 3.3)
    >>> while c.s > 0:
    ...     _ = c.step(0, 10, 0.01, 0.05, h=3.0, cap=6.0)
    >>> c.alarmed
    False
    """

    __slots__ = ("alarmed", "s")

    def __init__(self, s: float = 0.0, alarmed: bool = False) -> None:
        self.s = s
        self.alarmed = alarmed

    @property
    def ready(self) -> bool:
        return True

    def step(self, bad: float, n: float, p0: float, p1: float, *, h: float, cap: float) -> bool:
        """Add one step's counts; return whether the CUSUM is alarmed."""
        if not (math.isfinite(bad) and math.isfinite(n)):
            return self.alarmed
        return self.add(bernoulli_llr(bad, n, p0, p1), h=h, cap=cap)

    def add(self, llr: float, *, h: float, cap: float) -> bool:
        """Add one step's log-likelihood ratio of any test (``step`` adds a Bernoulli one);
        return whether the CUSUM is alarmed. A non-finite ratio is ignored."""
        if not math.isfinite(llr):
            return self.alarmed
        self.s = min(cap, max(0.0, self.s + llr))
        if self.s >= h:
            self.alarmed = True
        elif self.s <= 0.0:
            self.alarmed = False
        return self.alarmed

    def reset(self) -> None:
        self.s = 0.0
        self.alarmed = False

    def state_dict(self) -> dict[str, Any]:
        return {**header(self), "s": self.s, "alarmed": self.alarmed}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        check_state(cls, state)
        return cls(float(state["s"]), bool(state["alarmed"]))
