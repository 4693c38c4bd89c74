"""Bounded log volume: a flood of one kind of record is cut to a few lines a minute.

A worker logs a failure once per message it meets: harmless for one bad message, 160 MB in
40 s for a flood of them (or of asyncio's "accept() out of system resource"). The filter
keys records by logger and message template (the text before ``%`` arguments, so records
that differ only in offsets or ids count as one kind), lets ``burst`` of a kind through per
``window_s``, and, once a window in which some were dropped is over, says how many with the
next record of that kind.

>>> import logging
>>> limit = RateLimit(burst=2, window_s=60.0, clock=lambda: 0.0)
>>> record = logging.LogRecord("w", logging.ERROR, "", 0, "bad message at %d", (7,), None)
>>> [limit.filter(record) for _ in range(4)]
[True, True, False, False]
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

BURST: Final = 5
WINDOW_S: Final = 60.0
MAX_KINDS: Final = 4096  # templates built with f-strings vary: the table stays bounded


@dataclass(slots=True)
class _Kind:
    start: float
    passed: int = 1
    dropped: int = 0


class RateLimit(logging.Filter):
    """At most ``burst`` records of a kind per ``window_s`` seconds (see module doc)."""

    def __init__(
        self,
        burst: int = BURST,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.burst = burst
        self.window_s = window_s
        self._clock = clock
        self._kinds: dict[tuple[str, str], _Kind] = {}
        self.dropped = 0
        """Records dropped so far (a broker outage's end says how many)."""

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg)[:200])
        now = self._clock()
        kind = self._kinds.get(key)
        if kind is None or now - kind.start >= self.window_s:
            if kind is None and len(self._kinds) >= MAX_KINDS:
                self._kinds.clear()
            self._kinds[key] = _Kind(now)
            if kind is not None and kind.dropped:
                record.msg = f"{record.msg} [{kind.dropped} more like this were not logged]"
            return True
        if kind.passed < self.burst:
            kind.passed += 1
            return True
        kind.dropped += 1
        self.dropped += 1
        return False


def limit_log_volume(burst: int = BURST, window_s: float = WINDOW_S) -> None:
    """Put a :class:`RateLimit` on every handler of the root logger (call after configuring
    logging): records of child loggers reach those handlers, not the root's own filters."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RateLimit) for f in handler.filters):
            handler.addFilter(RateLimit(burst, window_s))


def dropped_log_lines() -> int:
    """Records the root logger's :class:`RateLimit` filters dropped so far (the most any one
    handler dropped: each handler sees every record)."""
    counts = [
        f.dropped
        for handler in logging.getLogger().handlers
        for f in handler.filters
        if isinstance(f, RateLimit)
    ]
    return max(counts, default=0)
