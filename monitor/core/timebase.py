"""Event time inside the core: integer microseconds (``Micros``), so every step and every
``for`` / ``keep_firing_for`` comparison is exact at any resolution.

Prometheus keeps integer milliseconds; floats of seconds are not exact (``1767225600.5 -
1767225600.2 < 0.3``), which made a 300 ms step take an event on its boundary late and
``for`` fire one evaluation late at sub-second resolutions. Microseconds rather than
milliseconds because producers (and the simulator) stamp events to the microsecond: an
event 0.4 ms after a step's end belongs to the next step, as it did with seconds. Events,
commands and views keep float seconds; :func:`to_us` / :func:`to_s` convert at the edge of
the core. A float time of day near 1.8e9 s is exact to ~0.24 µs, so ``round(ts * 1e6)``
recovers the producer's microsecond.
"""

from __future__ import annotations

from typing import Final

Micros = int
"""Event time or a duration, in integer microseconds."""

US_PER_S: Final = 1_000_000


def to_us(seconds: float) -> Micros:
    """Seconds (event time or a duration) to integer microseconds (nearest).

    >>> to_us(1767225600.5) - to_us(1767225600.2), to_us(0.3)
    (300000, 300000)
    """
    return round(seconds * US_PER_S)


def to_s(us: Micros) -> float:
    """Integer microseconds to float seconds (exact for whole seconds).

    >>> to_s(1_767_225_600_000_000), to_s(300_000)
    (1767225600.0, 0.3)
    """
    return us / US_PER_S


def step_of(ts: Micros, resolution: Micros) -> int:
    """The step an event at ``ts`` belongs to: ``ceil(ts / resolution)``, exactly.

    >>> step_of(to_us(1767225600.6), to_us(0.3)), step_of(to_us(1767225600.61), to_us(0.3))
    (5890752002, 5890752003)
    """
    return -(-ts // resolution)
