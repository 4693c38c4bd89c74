"""A rollout's status and verdict: the one vocabulary the core, the views, the verdict
routes and the reports share.

``status`` is where the rollout stands after its own decisions and the orchestrator's or a
human's lifecycle events; ``verdict`` is how its current stage reads (``pass``, ``fail``,
``inconclusive``). A stopped rollout (rolled back, halted, aborted) reads ``fail`` whatever
its rules say now: :func:`verdict_of` is the one mapping, and the verdict endpoint reads
:data:`FAILED` / :data:`HELD` from here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal

from topics.commands import Action


class Status(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    FROZEN = "frozen"
    INCONCLUSIVE = "inconclusive"
    """The stage reached its time box without a verdict: waits for a human."""
    HALTED = "halted"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"
    COMPLETED = "completed"


Verdict = Literal["pass", "fail", "inconclusive"]

FAILED: Final = frozenset({Status.HALTED, Status.ROLLED_BACK, Status.ABORTED})
"""Stopped for cause: the verdict is ``fail``."""
TERMINAL: Final = FAILED | {Status.COMPLETED}
"""No decision changes these (a human's ``resumed`` still may)."""
HELD: Final = frozenset({Status.PAUSED, Status.FROZEN, Status.INCONCLUSIVE})
"""Waiting for a human's ``resumed`` (or a new stage): no promotion, no repeated action."""
AFTER_ACTION: Final[dict[Action, Status]] = {
    "halt": Status.HALTED,
    "rollback": Status.ROLLED_BACK,
    "freeze": Status.FROZEN,
    "pause": Status.PAUSED,
}
"""The status a rule's decision leaves the rollout in (other actions keep it running)."""


def verdict_of(status: Status, live_firing: bool, live_healthy: bool) -> Verdict:
    """The stage's verdict from the status and its live (not dry-run) rules.

    >>> verdict_of(Status.ABORTED, False, True), verdict_of(Status.RUNNING, False, True)
    ('fail', 'pass')
    >>> verdict_of(Status.COMPLETED, False, False), verdict_of(Status.PAUSED, False, False)
    ('pass', 'inconclusive')
    """
    if status in FAILED or live_firing:
        return "fail"
    if status == Status.COMPLETED or live_healthy:
        return "pass"
    return "inconclusive"
