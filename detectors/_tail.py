"""Gaussian tail probabilities on a log scale, so big evidence keeps distinct, ordered values."""

from __future__ import annotations

import math

_LN10 = math.log(10.0)
_HALF_LN_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT1_2 = math.sqrt(0.5)


def neglog10_normal_tail(z: float) -> float:
    """``-log10 P(Z > z)`` for a standard normal Z, accurate far into the tail.

    ``erfc`` underflows past z ≈ 38; beyond z = 30 the Mills-ratio expansion
    ``log Q(z) ≈ -z²/2 - log(z √(2π)) + log(1 - 1/z²)`` is exact to double precision.

    Examples
    --------
    >>> round(neglog10_normal_tail(0.0), 4)
    0.301
    >>> neglog10_normal_tail(50.0) > neglog10_normal_tail(40.0) > 300
    True
    """
    if z < 30.0:
        q = 0.5 * math.erfc(z * _SQRT1_2)
        return -math.log10(q) if q > 0.0 else 0.0
    return (0.5 * z * z + math.log(z) + _HALF_LN_2PI - math.log1p(-1.0 / (z * z))) / _LN10


def evidence_to_score(decades: float, half_point: float) -> float:
    """Map surprise in decades (``-log10 p``) to [0, 1) monotonically: ``d / (d + half_point)``.

    Unlike ``1 - p`` this never rounds a whole range to 1.0: ``p = 1e-20`` and ``p = 1e-40``
    stay apart. ``half_point`` is the surprise that maps to 0.5.

    Examples
    --------
    >>> evidence_to_score(5.0, 5.0)
    0.5
    >>> evidence_to_score(40.0, 5.0) > evidence_to_score(20.0, 5.0)
    True
    """
    if decades <= 0.0:
        return 0.0
    return decades / (decades + half_point)
