"""A rollout's lifecycle: every change of its status goes through these transitions.

Each transition states its precondition (a pause does not touch a stopped rollout; a stage
change releases a held one; a human's resume runs again even after a halt). The decision
policy calls :meth:`Lifecycle.acted` for the core's own decisions, the event handlers
(:mod:`monitor.core.handlers`) the others for the orchestrator's and humans' events.
"""

from __future__ import annotations

from monitor.core.model import RolloutPlan
from monitor.core.snapshot import PolicyState
from monitor.core.timebase import Micros, to_us
from topics.commands import Action
from topics.status import AFTER_ACTION, HELD, TERMINAL, Status


class Lifecycle:
    """Status, stage and policy memory of a rollout, and the transitions between them."""

    plan: RolloutPlan
    status: Status
    stage_idx: int
    policy: PolicyState

    def enter_stage(self, idx: int, now: Micros) -> None:
        """Start stage ``idx`` at ``now`` (fresh alerts and stage totals)."""
        raise NotImplementedError

    def change_stage(self, idx: int, ts: float) -> None:
        """The orchestrator moved the rollout to stage ``idx``: a held rollout runs again."""
        self.enter_stage(idx, to_us(ts))
        if self.status in HELD:
            self.status = Status.RUNNING

    def pause(self) -> None:
        """Paused by the orchestrator or a human (not once stopped or completed)."""
        if self.status not in TERMINAL:
            self.status = Status.PAUSED

    def resume(self) -> None:
        """A human's resume: runs again (also after a halt) and forgets the last action,
        so the same condition may act again at once."""
        self.status = Status.RUNNING
        self.policy.last_action = None
        self.policy.last_ts = None

    def complete(self) -> None:
        self.status = Status.COMPLETED

    def abort(self) -> None:
        self.status = Status.ABORTED

    def hold_inconclusive(self) -> None:
        """The stage's time box passed without a verdict: wait for a human (once a stage)."""
        self.policy.timebox_done = True
        self.status = Status.INCONCLUSIVE

    def acted(self, action: Action, now: Micros) -> None:
        """The effect of a decision the core issued: its status, or a stage change."""
        self.policy.last_action = action
        self.policy.last_ts = now
        if action in AFTER_ACTION:
            self.status = AFTER_ACTION[action]
        elif action == "reduce_scope" and self.stage_idx > 0:
            self.enter_stage(self.stage_idx - 1, now)
        elif action == "promote":
            if self.stage_idx + 1 < len(self.plan.stages):
                self.enter_stage(self.stage_idx + 1, now)
            else:
                self.status = Status.COMPLETED
