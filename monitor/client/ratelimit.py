"""Bounded logging of rejections: a flood of hostile messages must not become a flood of
log lines (each rejection is still counted in the client's metrics)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class LogLimiter:
    """At most ``burst`` lines per key in any ``window_s``; the next line allowed says how
    many were suppressed meanwhile.

    >>> now = [0.0]
    >>> limit = LogLimiter(burst=2, window_s=60, clock=lambda: now[0])
    >>> [limit.allow("malformed") for _ in range(4)]
    [(True, 0), (True, 0), (False, 0), (False, 0)]
    >>> now[0] = 61
    >>> limit.allow("malformed")
    (True, 2)
    """

    burst: int = 10
    window_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _windows: dict[str, tuple[float, int, int]] = field(default_factory=dict)
    """key -> (window start, lines logged in it, lines suppressed since the last logged)."""

    def allow(self, key: str) -> tuple[bool, int]:
        """(whether to log this line, how many were suppressed before it)."""
        now = self.clock()
        start, logged, suppressed = self._windows.get(key, (now, 0, 0))
        if now - start >= self.window_s:
            start, logged = now, 0
        if logged >= self.burst:
            self._windows[key] = (start, logged, suppressed + 1)
            return False, 0
        self._windows[key] = (start, logged + 1, 0)
        return True, suppressed
