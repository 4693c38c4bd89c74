"""Small statistics the rules need that are not (yet) in :mod:`detectors`.

* :func:`msprt_two_proportions` — mixture sequential probability ratio test (Johari, Pekelis
  & Walsh 2017, "Always valid inference: continuous monitoring of A/B tests") for "the
  variant's rate is higher than the baseline's", on the normal approximation of the
  difference of two proportions. Its statistic is an e-value: rejecting when it reaches
  ``1/alpha`` keeps the false-alarm rate under ``alpha`` however often it is looked at.
* :class:`BernoulliCusum` — Page's CUSUM for "bad events became more frequent than a
  reference rate", fed per evaluation step with that step's counts (per-event evidence:
  the log-likelihood ratio of a step is the sum over its events). It alarms at ``h``,
  stays alarmed until the evidence is used up (back to zero), and never holds more than
  ``cap``, so a blip's evidence drains within ``cap / |drift|`` of its end.
"""

from __future__ import annotations

import math


def msprt_two_proportions(
    x_var: float, n_var: float, x_base: float, n_base: float, tau2: float | None = None
) -> float:
    """E-value (mixture likelihood ratio) that the variant's rate exceeds the baseline's.

    ``tau2`` is the variance of the normal mixing prior on the difference; by default
    ``p̄(1 - p̄) / 10``, i.e. effects of about a third of a standard deviation per event are
    the expected scale. Returns 1.0 (no evidence) when either side is empty or the observed
    difference is not in the tested direction.

    Examples
    --------
    >>> msprt_two_proportions(5, 1000, 5, 1000)
    1.0
    >>> msprt_two_proportions(60, 1000, 10, 1000) > 1000
    True
    >>> msprt_two_proportions(12, 1000, 10, 1000) < 20
    True
    """
    if n_var <= 0 or n_base <= 0:
        return 1.0
    p_var = x_var / n_var
    p_base = x_base / n_base
    diff = p_var - p_base
    if diff <= 0:
        return 1.0
    pooled = (x_var + x_base) / (n_var + n_base)
    var_unit = max(pooled * (1.0 - pooled), 1e-12)
    v = var_unit * (1.0 / n_var + 1.0 / n_base)
    t2 = var_unit / 10.0 if tau2 is None else tau2
    log_lr = 0.5 * math.log(v / (v + t2)) + (t2 * diff * diff) / (2.0 * v * (v + t2))
    return math.exp(min(log_lr, 700.0))


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

    def step(self, bad: float, n: float, p0: float, p1: float, *, h: float, cap: float) -> bool:
        """Add one step's counts; return whether the CUSUM is alarmed."""
        self.s = min(cap, max(0.0, self.s + bernoulli_llr(bad, n, p0, p1)))
        if self.s >= h:
            self.alarmed = True
        elif self.s <= 0.0:
            self.alarmed = False
        return self.alarmed

    def reset(self) -> None:
        self.s = 0.0
        self.alarmed = False
