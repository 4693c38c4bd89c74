"""Test keys, fresh for every session (their private halves are registered secrets).

``WORKER`` signs like a worker fleet, for every rollout name the tests use (prefix patterns
over every first character: the tests are not about the worker key's scope, except where
they build their own); ``OPERATOR`` is "ana", who may sign off as cto and coo; ``BO`` is
another operator, with no sign-off role. ``RING`` is what verifiers hold.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Final

from tests.secrets import signing_key
from topics.control_plane import sign_event
from topics.events import Event, Plan, Signoff
from topics.keyfiles import write_ring, write_signing_key
from topics.keys import KeyRing, PublicKey, SigningKey

ANY_ROLLOUT: Final = tuple(f"{c}*" for c in string.ascii_letters + string.digits + "_.:/@+-")
WORKER: Final = signing_key("test-worker-1", "worker")
OPERATOR: Final = signing_key("test-ana-1", "operator", name="ana")
BO: Final = signing_key("test-bo-1", "operator", name="bo")
SIGNERS: Final = {
    role: signing_key(f"test-{role}-1", "operator", name=f"{role}@broker.example")
    for role in ("cto", "coo", "compliance")
}
"""The people who sign off in ``monitor.sim.synthetic``'s streams (``by`` = key name)."""
WORKER_PUBLIC: Final = WORKER.public(rollouts=ANY_ROLLOUT)
OPERATOR_PUBLIC: Final = OPERATOR.public(signoff_roles=frozenset({"cto", "coo"}))
RING: Final = KeyRing([
    WORKER_PUBLIC,
    OPERATOR_PUBLIC,
    BO.public(),
    *(key.public(signoff_roles=frozenset({role})) for role, key in SIGNERS.items()),
])  # fmt: skip


def operator_signed(events: list[Event]) -> list[Event]:
    """``events`` with plan events signed by ana, sign-offs by the signer their ``by`` names
    (ana when none)."""
    by_name = {key.name: key for key in SIGNERS.values()}
    out: list[Event] = []
    for event in events:
        if isinstance(event, Plan):
            out.append(sign_event(event, OPERATOR))
        elif isinstance(event, Signoff):
            out.append(sign_event(event, by_name.get(event.by, OPERATOR)))
        else:
            out.append(event)
    return out


def ring_of(*keys: PublicKey) -> KeyRing:
    return KeyRing(list(keys))


def key_file(directory: Path, key: SigningKey) -> Path:
    """``key`` as a key file in ``directory`` (written once)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{key.key_id}.key.json"
    if not path.exists():
        write_signing_key(key, path)
    return path


def key_files(directory: Path, ring: KeyRing = RING) -> tuple[Path, Path, Path]:
    """(worker key file, operator key file, trusted ring file) in ``directory``."""
    worker, operator = key_file(directory, WORKER), key_file(directory, OPERATOR)
    return worker, operator, write_ring(directory / "trusted-keys.json", ring)


def key_env(directory: Path) -> dict[str, str]:
    """Environment naming the test keys (worker, operator, ring) as files."""
    worker, operator, ring = key_files(directory)
    return {
        "ROLLGUARD_SIGNING_KEY_FILE": str(worker),
        "ROLLGUARD_OPERATOR_KEY_FILE": str(operator),
        "ROLLGUARD_TRUSTED_KEYS_FILE": str(ring),
    }


__all__ = ["BO", "OPERATOR", "RING", "WORKER", "KeyRing", "SigningKey"]
