"""Test keys, fresh for every session (their private halves are registered secrets).

``WORKER`` signs like a worker fleet, for every rollout name the tests use (prefix patterns
over every first character: the tests are not about the worker key's scope, except where
they build their own); ``OPERATOR`` is "ana", who may sign off as cto and coo. ``RING`` is
what verifiers hold.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Final

from tests.secrets import signing_key
from topics.keyfiles import write_ring, write_signing_key
from topics.keys import KeyRing, PublicKey, SigningKey

ANY_ROLLOUT: Final = tuple(f"{c}*" for c in string.ascii_letters + string.digits + "_.:/@+-")
WORKER: Final = signing_key("test-worker-1", "worker")
OPERATOR: Final = signing_key("test-ana-1", "operator", name="ana")
WORKER_PUBLIC: Final = WORKER.public(rollouts=ANY_ROLLOUT)
OPERATOR_PUBLIC: Final = OPERATOR.public(signoff_roles=frozenset({"cto", "coo"}))
RING: Final = KeyRing([WORKER_PUBLIC, OPERATOR_PUBLIC])


def ring_of(*keys: PublicKey) -> KeyRing:
    return KeyRing(list(keys))


def key_files(directory: Path, ring: KeyRing = RING) -> tuple[Path, Path, Path]:
    """(worker key file, operator key file, trusted ring file) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    worker = directory / "worker.key.json"
    operator = directory / "operator.key.json"
    for path, key in ((worker, WORKER), (operator, OPERATOR)):
        if not path.exists():
            write_signing_key(key, path)
    return worker, operator, write_ring(directory / "trusted-keys.json", ring)


def key_env(directory: Path) -> dict[str, str]:
    """Environment naming the test keys (worker, operator, ring) as files."""
    worker, operator, ring = key_files(directory)
    return {
        "ROLLGUARD_SIGNING_KEY_FILE": str(worker),
        "ROLLGUARD_OPERATOR_KEY_FILE": str(operator),
        "ROLLGUARD_TRUSTED_KEYS_FILE": str(ring),
    }


__all__ = ["OPERATOR", "RING", "WORKER", "KeyRing", "SigningKey"]
