"""How far two categorical mixes (e.g. rejection causes) are apart.

Divergence: Jensen–Shannon (Lin 1991, "Divergence measures based on the Shannon entropy", IEEE
Trans. Inf. Theory 37(1)) in bits, so it lies in [0, 1], is symmetric and finite even when a cause
appears on one side only; counts get additive (Dirichlet) smoothing first so a single new cause
in a handful of events does not look like a total change. The signal ``reject_mix_divergence``
is this divergence; rules test a shift of the mix with ``detectors.multinomial`` (``cause_shift``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def jensen_shannon(p: Mapping[str, float], q: Mapping[str, float], smoothing: float = 0.5) -> float:
    """Jensen–Shannon divergence (bits, in [0, 1]) between two count maps, after adding
    ``smoothing`` to every category seen on either side.

    Examples
    --------
    >>> jensen_shannon({"a": 10, "b": 10}, {"a": 10, "b": 10})
    0.0
    >>> round(jensen_shannon({"a": 100}, {"b": 100}, smoothing=0.0), 6)
    1.0
    """
    keys = sorted(set(p) | set(q))
    if not keys:
        return 0.0
    pa = np.array([p.get(k, 0.0) for k in keys], dtype=float) + smoothing
    qa = np.array([q.get(k, 0.0) for k in keys], dtype=float) + smoothing
    if pa.sum() <= 0 or qa.sum() <= 0:
        return 0.0
    pa /= pa.sum()
    qa /= qa.sum()
    m = 0.5 * (pa + qa)

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / b[mask])))

    return max(0.0, min(1.0, 0.5 * kl(pa, m) + 0.5 * kl(qa, m)))
