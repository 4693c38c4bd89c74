"""Who may sign what: the authority table of ``docs/signing.md``, checked after a signature
has been found valid.

* **worker keys** sign commands with issuer ``worker`` exactly, for rule decisions only
  (promote, proceed, hold, pause, freeze, reduce_scope, rollback, halt), for the key's
  ``rollouts`` only and never ``*``; no control-plane events.
* **operator keys** sign commands with issuer ``operator:<the key's name>`` exactly: halt,
  pause, freeze and resume, for the key's ``rollouts`` (every rollout and ``*`` when unset);
  ``plan`` events (every lifecycle action) for those rollouts; ``signoff`` events in the
  key's ``signoff_roles`` with ``by`` equal to the key's name.

The stateful rule (after an operator HALT only an operator RESUME reopens a rollout,
whatever a worker says) needs the history of a rollout: ``monitor.orchestrators.store``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from topics.commands import Action, Command
from topics.keys import PublicKey
from topics.signing import printable

WORKER_ACTIONS: Final[frozenset[Action]] = frozenset(
    {"promote", "proceed", "hold", "pause", "freeze", "reduce_scope", "rollback", "halt"}
)
OPERATOR_ACTIONS: Final[frozenset[Action]] = frozenset({"halt", "pause", "freeze", "resume"})
CONTROL_PLANE_KINDS: Final = frozenset({"plan", "signoff"})
"""Event kinds that steer a rollout: accepted from telemetry only when operator-signed."""


def command_problem(command: Command, key: PublicKey) -> str:
    """Why ``key`` may not sign ``command`` ('' when it may).

    >>> import msgspec
    >>> from topics.keys import SigningKey
    >>> w = SigningKey.generate("w1", "worker").public(rollouts=("pay-*",))
    >>> c = Command(v=1, command_id="0123456789ab", rollout_id="pay-eu", stage="s",
    ...             action="promote", reason="", issued_at=1.7e9, expires_at=1.7e9 + 60)
    >>> command_problem(c, w)
    ''
    >>> command_problem(msgspec.structs.replace(c, action="resume"), w)
    "a worker key may not sign 'resume'"
    >>> command_problem(msgspec.structs.replace(c, rollout_id="*"), w)
    "key 'w1' may not sign for rollout '*'"
    """
    if command.issuer != key.issuer:
        return f"key {key.key_id!r} signs as {key.issuer!r}, not as {command.issuer!r}"
    allowed = WORKER_ACTIONS if key.role == "worker" else OPERATOR_ACTIONS
    if command.action not in allowed:
        return f"a {key.role} key may not sign {command.action!r}"
    if not key.covers(command.rollout_id):
        return f"key {key.key_id!r} may not sign for rollout {command.rollout_id!r}"
    return ""


def event_problem(event: Mapping[str, Any], key: PublicKey) -> str:
    """Why ``key`` may not sign the control-plane ``event`` (a parsed JSON object; '' when
    it may)."""
    if key.role != "operator":
        return f"control-plane events need an operator key, {key.key_id!r} is a {key.role} key"
    rollout_id = event.get("rollout_id")
    if not isinstance(rollout_id, str) or not key.covers(rollout_id) or rollout_id == "*":
        shown = printable(rollout_id, 40) if isinstance(rollout_id, str) else "(none)"
        return f"key {key.key_id!r} may not sign for rollout {shown}"
    if event.get("kind") == "signoff":
        role, by = event.get("role"), event.get("by")
        if not isinstance(role, str) or role not in key.signoff_roles:
            shown = printable(role, 40) if isinstance(role, str) else "(none)"
            return f"key {key.key_id!r} may not sign off as {shown}"
        if by != key.name:
            return f"a sign-off by someone else than {key.name!r}, the key's holder"
    return ""
