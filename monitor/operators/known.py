"""Operator commands refuse what does not exist: rollouts, stages and sign-off roles are
checked against the fleet's status topic (each rollout's plan travels in its status), with a
did-you-mean, before anything is signed or published. ``--force`` skips the check (a rollout
whose workers never published, a broker without the status topic)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from monitor.status.reader import StatusSnapshot
from monitor.status.table import StatusTable
from topics.keyfiles import ring_from


class Refused(Exception):  # noqa: N818  # a refusal, said to the operator as it is
    """The rollout, stage or role does not exist; the message says what does."""


def fleet_table(
    bootstrap: str, status_topic: str, kafka_options: Mapping[str, Any] | None = None
) -> StatusTable:
    """The status topic read to its end (verified with ``ROLLGUARD_TRUSTED_KEYS_FILE``'s ring
    when set; this is a typo guard, the operator's own signature is what workers check)."""
    ring = ring_from(None)
    table = StatusTable(ring)
    with StatusSnapshot(bootstrap, status_topic, table, kafka_options):
        pass
    return table


def check_rollout(table: StatusTable, rollout_id: str) -> None:
    if rollout_id == "*" or rollout_id in table.rollouts:
        return
    raise Refused(_unknown("rollout", rollout_id, list(table.rollouts)))


def check_signoff(table: StatusTable, rollout_id: str, stage: str, role: str) -> None:
    """The stage must be in the rollout's plan, and the role one that stage asks for."""
    check_rollout(table, rollout_id)
    view = table.rollouts[rollout_id].view
    stages = {s.name: s for s in view.stage_plan}
    if stage not in stages:
        raise Refused(_unknown(f"stage of {rollout_id}", stage, list(stages)))
    roles = list(stages[stage].signoffs)
    if role not in roles:
        wanted = ", ".join(roles) if roles else "none"
        raise Refused(
            f"stage {stage!r} of {rollout_id} needs no sign-off from {role!r} "
            f"(it asks for: {wanted})" + _did_you_mean(role, roles)
        )


def _unknown(what: str, name: str, known: list[str]) -> str:
    listed = ", ".join(sorted(known)[:10]) or "none published yet"
    return f"unknown {what} {name!r}{_did_you_mean(name, known)} (known: {listed})"


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
