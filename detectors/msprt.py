"""Mixture sequential probability ratio test of two proportions (an e-value).

Johari, Pekelis & Walsh 2017, "Always valid inference: continuous monitoring of A/B tests":
"the variant's rate is higher than the baseline's", on the normal approximation of the
difference of two proportions. Its statistic is an e-value: rejecting when it reaches
``1/alpha`` keeps the false-alarm rate under ``alpha`` however often it is looked at. Rules
reach it with ``threshold: {kind: vs_baseline, method: sequential}``
(``monitor.core.thresholds.sequential``) and in the policy's per-segment drill-down.
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
