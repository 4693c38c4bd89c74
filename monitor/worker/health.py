"""``/healthz``: a few named checks, each able to say "this worker must be restarted".

A worker that answers ok while it applies nothing is worse than one that is down: its
supervisor keeps it, and the rollouts it owns go unwatched. So health is judged from what the
loops achieve, not from whether they turn:

- ``<stage>_loop``: the loop came round recently (a blocked loop fails);
- ``<stage>_progress``: it handled input within ``stall_s`` — or had nothing to handle
  (its input lag is zero, or shrinking). A loop that turns but applies nothing while input
  waits fails: this is the stuck pipeline that looked healthy;
- ``<stage>_failures``: the same input position did not fail ``max_failures`` times in a
  row (a loop retrying one poison message forever fails even while it turns);
- ``memory``: resident memory under ``max_rss_bytes`` (when set).

Checks are plain callables; anything else that can go wrong adds its own with
:meth:`Health.add` (a name, and a function of the monotonic time returning a
:class:`CheckResult`). A check that raises counts as failed.

>>> health = Health()
>>> health.add("always", lambda now: CheckResult(True, "fine"))
>>> health.report(0.0)
{'ok': True, 'checks': {'always': {'ok': True, 'detail': 'fine'}}}
"""

from __future__ import annotations

import logging
import os
import resource
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

log = logging.getLogger(__name__)


class CheckResult(NamedTuple):
    ok: bool
    detail: str


Check = Callable[[float], CheckResult]
"""A health check: given ``time.monotonic()``, is this part of the worker well?"""


@dataclass
class Health:
    """The worker's named checks; ``report`` is what ``/healthz`` answers."""

    _checks: dict[str, Check] = field(default_factory=dict)

    def add(self, name: str, check: Check) -> None:
        if name in self._checks:
            raise ValueError(f"health check {name!r} is already registered")
        self._checks[name] = check

    def names(self) -> list[str]:
        return list(self._checks)

    def report(self, now: float) -> dict[str, Any]:
        results: dict[str, dict[str, Any]] = {}
        for name, check in self._checks.items():
            try:
                ok, detail = check(now)
            except Exception as exc:  # a broken check must read as unhealthy, not crash /healthz
                log.exception("health check %s failed", name)
                ok, detail = False, f"check failed: {type(exc).__name__}"
            results[name] = {"ok": ok, "detail": detail}
        return {"ok": all(r["ok"] for r in results.values()), "checks": results}


@dataclass
class StageProgress:
    """What one loop (ingest, processor) reports as it goes; read by its checks.

    ``handled`` counts input the stage is done with (the ingest: offsets committed after
    their forwards were acked; the processor: records applied), ``lag`` how many input
    messages wait behind it (None: not known yet).
    """

    name: str
    started_s: float
    last_turn_s: float = 0.0
    handled: int = 0
    last_progress_s: float = 0.0
    lag: int | None = None
    failures: int = 0
    """Rounds failed in a row at ``failing_at``."""
    failing_at: object = None
    last_error: str = ""

    def turned(self, now: float) -> None:
        self.last_turn_s = now

    def advanced(self, handled: int, now: float) -> None:
        if handled > 0:
            self.handled += handled
            self.last_progress_s = now
            self.failures, self.failing_at = 0, None

    def failed(self, position: object, error: str) -> None:
        """A round failed at ``position`` (e.g. its first offsets); it will be tried again."""
        self.failures = self.failures + 1 if position == self.failing_at else 1
        self.failing_at = position
        self.last_error = error


def loop_check(stage: StageProgress, stall_s: float) -> Check:
    def check(now: float) -> CheckResult:
        since = now - max(stage.last_turn_s, stage.started_s)
        if since < stall_s:
            return CheckResult(True, f"turned {since:.1f} s ago")
        return CheckResult(False, f"has not turned for {since:.0f} s (limit {stall_s:g} s)")

    return check


def progress_check(stage: StageProgress, stall_s: float) -> Check:
    """Fails once input waits (lag > 0) and none was handled for ``stall_s``: a loop that
    turns but gets nowhere while its lag can only grow."""

    def check(now: float) -> CheckResult:
        if not stage.lag:
            return CheckResult(True, f"handled {stage.handled}, nothing waiting")
        stalled = now - max(stage.last_progress_s, stage.started_s)
        if stalled < stall_s:
            return CheckResult(True, f"handled {stage.handled}, {stage.lag} waiting")
        return CheckResult(
            False,
            f"nothing handled for {stalled:.0f} s while {stage.lag} input messages wait "
            f"(limit {stall_s:g} s)",
        )

    return check


def failures_check(stage: StageProgress, max_failures: int) -> Check:
    def check(now: float) -> CheckResult:
        if stage.failures < max_failures:
            return CheckResult(True, f"{stage.failures} failed rounds in a row")
        return CheckResult(
            False,
            f"failed {stage.failures} times in a row at the same input position "
            f"({stage.last_error}; limit {max_failures})",
        )

    return check


def rss_bytes() -> int:
    """Resident memory of this process now (Linux ``/proc``; else the peak so far)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def memory_check(max_rss_bytes: int, read: Callable[[], int] = rss_bytes) -> Check:
    """
    >>> memory_check(100, read=lambda: 150)(0.0)
    CheckResult(ok=False, detail='resident memory 0 MiB > limit 0 MiB')
    """

    def check(now: float) -> CheckResult:
        rss = read()
        mib, limit = rss >> 20, max_rss_bytes >> 20
        if rss <= max_rss_bytes:
            return CheckResult(True, f"resident memory {mib} MiB (limit {limit} MiB)")
        return CheckResult(False, f"resident memory {mib} MiB > limit {limit} MiB")

    return check
