"""Signing keys for control commands: one active key signs, every listed key verifies.

Keys come from a file or from the environment, never from the command line, and never
appear in logs, reprs or exports. Several keys at once allow rotation: publish with the new
key while orchestrators still accept the old one, then drop it.

File (JSON or YAML)::

    {"active": "k2", "keys": {"k1": "<secret>", "k2": "hex:9f86d0..."}}

Environment: ``ROLLGUARD_SIGNING_KEYS="k1=<secret>,k2=<secret>"`` and
``ROLLGUARD_SIGNING_KEY_ID=k2`` (default: the last listed). A secret is UTF-8 text, or
``hex:...`` / ``base64:...`` bytes; at least 16 bytes.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import yaml

from monitor.errors import ConfigError

MIN_SECRET_BYTES: Final = 16
ENV_KEYS: Final = "ROLLGUARD_SIGNING_KEYS"
ENV_KEY_ID: Final = "ROLLGUARD_SIGNING_KEY_ID"
ENV_KEYS_FILE: Final = "ROLLGUARD_SIGNING_KEYS_FILE"


@dataclass(frozen=True)
class KeyRing:
    """Accepted keys by id, and the id of the one that signs."""

    active_id: str
    keys: Mapping[str, bytes] = field(repr=False)

    def __post_init__(self) -> None:
        if self.active_id not in self.keys:
            raise ConfigError(f"active signing key {self.active_id!r} is not among the keys")

    @property
    def signing_key(self) -> bytes:
        return self.keys[self.active_id]

    def __repr__(self) -> str:
        return f"KeyRing(active_id={self.active_id!r}, key_ids={sorted(self.keys)!r})"


def parse_secret(text: str, where: str) -> bytes:
    if text.startswith("hex:"):
        try:
            secret = bytes.fromhex(text[4:])
        except ValueError as exc:
            raise ConfigError(f"{where}: not valid hex") from exc
    elif text.startswith("base64:"):
        try:
            secret = base64.b64decode(text[7:], validate=True)
        except ValueError as exc:
            raise ConfigError(f"{where}: not valid base64") from exc
    else:
        secret = text.encode()
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(f"{where}: secret shorter than {MIN_SECRET_BYTES} bytes")
    return secret


def load_keyring_file(path: str | Path) -> KeyRing:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read signing keys: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("keys"), dict) or not raw["keys"]:
        raise ConfigError(f"{path}: expected {{active: ID, keys: {{ID: SECRET, ...}}}}")
    keys = {str(k): parse_secret(str(v), f"{path}: key {k}") for k, v in raw["keys"].items()}
    active = str(raw.get("active") or list(keys)[-1])
    return KeyRing(active, keys)


def keyring_from_env(env: Mapping[str, str] | None = None) -> KeyRing | None:
    """The keyring named by the environment (a file path or inline keys), or None."""
    env = os.environ if env is None else env
    if env.get(ENV_KEYS_FILE):
        return load_keyring_file(env[ENV_KEYS_FILE])
    spec = env.get(ENV_KEYS, "").strip()
    if not spec:
        return None
    keys: dict[str, bytes] = {}
    for item in spec.split(","):
        key_id, sep, secret = item.strip().partition("=")
        if not sep or not key_id:
            raise ConfigError(
                f"{ENV_KEYS}: expected id=secret[,id=secret], got an item without '='"
            )
        keys[key_id] = parse_secret(secret, f"{ENV_KEYS}: key {key_id}")
    return KeyRing(env.get(ENV_KEY_ID) or list(keys)[-1], keys)


def load_keyring(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> KeyRing:
    """A file if given, else the environment; a clear error when neither has keys."""
    ring = load_keyring_file(path) if path else keyring_from_env(env)
    if ring is None:
        raise ConfigError(f"no signing keys: pass a keys file or set {ENV_KEYS_FILE} or {ENV_KEYS}")
    return ring
