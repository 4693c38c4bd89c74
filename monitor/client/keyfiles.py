"""Where verification and operator signing keys come from.

Worker keys (automatic decisions) use :mod:`topics.keys`' variables
(``ROLLGUARD_SIGNING_KEYS_FILE`` / ``ROLLGUARD_SIGNING_KEYS``). Operator keys (humans:
``rollguard kill`` / ``resume``) are a separate ring with the same file format, from
``--keys FILE`` or ``ROLLGUARD_OPERATOR_KEYS_FILE`` / ``ROLLGUARD_OPERATOR_KEYS``
(+ ``ROLLGUARD_OPERATOR_KEY_ID``): an orchestrator can then tell a human's command from a
worker's, and a leaked worker key cannot ``resume`` what a human halted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from monitor.client.checks import TrustedKeys
from topics.keys import ENV_KEY_ID, ENV_KEYS, ENV_KEYS_FILE, KeyRing, keyring_from_env

ENV_OPERATOR_KEYS_FILE: Final = "ROLLGUARD_OPERATOR_KEYS_FILE"
ENV_OPERATOR_KEYS: Final = "ROLLGUARD_OPERATOR_KEYS"
ENV_OPERATOR_KEY_ID: Final = "ROLLGUARD_OPERATOR_KEY_ID"


def operator_keyring(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> KeyRing | None:
    """The operator ring from ``path``, else from the ``ROLLGUARD_OPERATOR_*`` variables."""
    env = os.environ if env is None else env
    renamed = {
        ENV_KEYS_FILE: str(path) if path else env.get(ENV_OPERATOR_KEYS_FILE, ""),
        ENV_KEYS: env.get(ENV_OPERATOR_KEYS, ""),
        ENV_KEY_ID: env.get(ENV_OPERATOR_KEY_ID, ""),
    }
    return keyring_from_env({k: v for k, v in renamed.items() if v})


def worker_keyring(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> KeyRing | None:
    """The workers' ring from ``path``, else from the ``ROLLGUARD_SIGNING_*`` variables."""
    env = os.environ if env is None else env
    if path:
        return keyring_from_env({ENV_KEYS_FILE: str(path)})
    return keyring_from_env(env)


def trusted_keys(
    worker_keys: str | Path | None = None,
    operator_keys: str | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> TrustedKeys:
    """Both rings for verification (files win over the environment); either may be absent."""
    return TrustedKeys.from_rings(
        worker_keyring(worker_keys, env), operator_keyring(operator_keys, env)
    )
