"""The bounds one worker keeps whatever its input: clocks, state, health, HTTP.

Every default here is listed with its reason in ``docs/security.md``; the CLI sets each one
(``rollguard worker --help``, ``ROLLGUARD_*``).
"""

from __future__ import annotations

from dataclasses import dataclass

from topics.codec import MAX_CLOCK_SKEW_S
from topics.errors import ConfigError


@dataclass(frozen=True)
class HttpLimits:
    """The worker's HTTP server (``monitor.worker.server``)."""

    max_connections: int = 256
    """Open connections at most; more are closed at once (a few file handles stay free)."""
    idle_timeout_s: float = 15.0
    """A connection with no request in progress for this long is closed (also one that
    never finished sending its first request's headers: slow-header clients)."""
    request_timeout_s: float = 10.0
    """Reading the body and answering one request; else 408 and the connection closes."""
    max_header_bytes: int = 8190
    """Longest request line and header line (aiohttp's own default)."""
    max_headers: int = 64

    def __post_init__(self) -> None:
        if self.max_connections < 2:
            raise ConfigError("worker: http max connections must be >= 2")
        if min(self.idle_timeout_s, self.request_timeout_s) <= 0:
            raise ConfigError("worker: http timeouts must be > 0")


@dataclass(frozen=True)
class WorkerLimits:
    """Bounds on what producers, peers and HTTP clients can make a worker hold or do."""

    reject_clock_skew: bool = True
    """Dead-letter events stamped ahead of the wall clock (``docs/event-time.md``)."""
    max_clock_skew_s: float = MAX_CLOCK_SKEW_S
    max_event_age_s: float | None = None
    """Also dead-letter events older than this (None: any age; old events are late, never
    applied, and cannot move a watermark)."""
    max_rollouts: int = 1000
    max_segments: int = 64
    """Distinct segment label sets per rollout; events of more count for the whole rollout."""
    max_series: int = 20_000
    """Per-rollout series on ``/metrics``; past it, whole rollouts are left out (counted)."""
    health_stall_s: float = 30.0
    """``/healthz`` fails when a loop has not turned, or handled nothing while input
    waited, for this long."""
    health_max_failures: int = 5
    """... or when a loop failed this many rounds in a row at the same input position."""
    max_rss_mb: int | None = None
    """... or when resident memory passes this (None: not checked)."""
    http: HttpLimits = HttpLimits()

    def __post_init__(self) -> None:
        if self.max_clock_skew_s < 0 or (self.max_event_age_s or 0) < 0:
            raise ConfigError("worker: clock bounds must be >= 0")
        if min(self.max_rollouts, self.max_segments, self.max_series) < 1:
            raise ConfigError("worker: max rollouts, segments and series must be >= 1")
        if self.health_stall_s <= 0 or self.health_max_failures < 1:
            raise ConfigError("worker: health stall must be > 0 and max failures >= 1")
        if self.max_rss_mb is not None and self.max_rss_mb < 16:
            raise ConfigError("worker: max rss must be at least 16 MiB")
