"""The key files an orchestrator-side program needs: the trusted ring (public keys) and,
for humans, their own operator signing key. See :mod:`topics.keyfiles` for the formats."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from topics.errors import ConfigError
from topics.keyfiles import (
    ENV_OPERATOR_KEY_FILE,
    ENV_TRUSTED_KEYS_FILE,
    ring_from,
    signing_key_from,
)
from topics.keys import KeyRing, SigningKey


def trusted_keys(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> KeyRing:
    """The trusted ring from ``path``, else from ``ROLLGUARD_TRUSTED_KEYS_FILE``; a clear
    ``ConfigError`` when neither names one or it cannot be used."""
    ring = ring_from(path, env)
    if ring is None:
        raise ConfigError(
            f"no trusted keys: pass --trusted-keys FILE or set {ENV_TRUSTED_KEYS_FILE} "
            "(a ring of public keys: `rollguard keys generate --ring FILE`)"
        )
    return ring


def operator_key(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> SigningKey:
    """The person's operator signing key from ``path``, else ``ROLLGUARD_OPERATOR_KEY_FILE``."""
    key = signing_key_from(path, ENV_OPERATOR_KEY_FILE, "operator", env)
    if key is None:
        raise ConfigError(
            f"no operator key: pass --key FILE or set {ENV_OPERATOR_KEY_FILE} "
            "(`rollguard keys generate --role operator`)"
        )
    return key
