"""Key files and where each program finds them.

Two JSON formats (plain JSON, so any language reads them; ``rollguard keys generate``
writes both):

* a **signing key** (private; one per worker fleet or per person, mode 0600, refused when
  group or others may read it, as ssh does)::

      {"key_id": "worker-2026-01", "role": "worker", "private_key": "<64 hex: the seed>"}
      {"key_id": "ops-ana-1", "role": "operator", "name": "ana", "private_key": "..."}

* a **trusted key ring** (public; hand it to every verifier)::

      {"keys": [
        {"key_id": "worker-2026-01", "role": "worker", "public_key": "<64 hex>",
         "rollouts": ["payments-*"]},
        {"key_id": "ops-ana-1", "role": "operator", "name": "ana", "public_key": "...",
         "signoff_roles": ["cto"]}]}

Environment: ``ROLLGUARD_SIGNING_KEY_FILE`` (a worker's key), ``ROLLGUARD_OPERATOR_KEY_FILE``
(a person's key: ``kill``, ``resume``, ``signoff``, signed plan events),
``ROLLGUARD_TRUSTED_KEYS_FILE`` (the ring). The HMAC variables of earlier versions are
refused with a pointer to the migration notes (``docs/security.md``).

Errors name the file, and a line and column for JSON errors; they never quote the file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Final

import msgspec
from msgspec import Meta

from topics.errors import ConfigError
from topics.keys import (
    MAX_KEY_ID,
    MAX_NAME,
    OPERATOR_NAME_PATTERN,
    ROLLOUT_PATTERN,
    KeyRing,
    PublicKey,
    Role,
    SigningKey,
)
from topics.signing import KEY_ID_PATTERN, MalformedError, parse_strict

ENV_SIGNING_KEY_FILE: Final = "ROLLGUARD_SIGNING_KEY_FILE"
ENV_OPERATOR_KEY_FILE: Final = "ROLLGUARD_OPERATOR_KEY_FILE"
ENV_TRUSTED_KEYS_FILE: Final = "ROLLGUARD_TRUSTED_KEYS_FILE"
LEGACY_ENV: Final = (
    "ROLLGUARD_SIGNING_KEYS",
    "ROLLGUARD_SIGNING_KEYS_FILE",
    "ROLLGUARD_SIGNING_KEY_ID",
    "ROLLGUARD_OPERATOR_KEYS",
    "ROLLGUARD_OPERATOR_KEYS_FILE",
    "ROLLGUARD_OPERATOR_KEY_ID",
)
MIGRATION: Final = (
    "HMAC signing keys were removed: generate Ed25519 keys with `rollguard keys generate` "
    "(docs/security.md, 'Migrating from HMAC')"
)
MAX_KEY_FILE_BYTES: Final = 1 << 20

KeyId = Annotated[str, Meta(min_length=1, max_length=MAX_KEY_ID, pattern=KEY_ID_PATTERN)]
OperatorName = Annotated[
    str, Meta(min_length=1, max_length=MAX_NAME, pattern=OPERATOR_NAME_PATTERN)
]
RolloutPattern = Annotated[str, Meta(min_length=1, max_length=129, pattern=ROLLOUT_PATTERN)]
SignoffRole = Annotated[
    str, Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:/@+-]+(?!\n)$")
]
Hex32 = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}(?!\n)$")]


class RingEntry(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """One public key of a trusted key ring."""

    key_id: Annotated[KeyId, Meta(description="Id commands and events name in `key_id`.")]
    role: Annotated[Role, Meta(description="worker (rule decisions) or operator (a person).")]
    public_key: Annotated[Hex32, Meta(description="Ed25519 public key, 64 lowercase hex.")]
    rollouts: (
        Annotated[
            list[RolloutPattern],
            Meta(description="Rollouts it may sign for: names or 'prefix*' (worker: required)."),
        ]
        | None
    ) = None
    name: Annotated[OperatorName, Meta(description="Operator keys: the holder.")] | None = None
    signoff_roles: Annotated[
        list[SignoffRole], Meta(description="Operator keys: sign-off roles it may sign.")
    ] = []
    comment: Annotated[str, Meta(max_length=1024, description="Free text.")] | None = None


class RingFile(msgspec.Struct, forbid_unknown_fields=True):
    """A trusted key ring: public keys with ids and roles (safe to share)."""

    keys: Annotated[list[RingEntry], Meta(description="The keys; ids are unique.")]


class KeyFile(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A private signing key (secret)."""

    key_id: KeyId
    role: Role
    private_key: Hex32
    name: OperatorName | None = None


def _read(path: Path, what: str) -> dict[str, object]:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    if len(data) > MAX_KEY_FILE_BYTES:
        raise ConfigError(f"{path}: {what} larger than {MAX_KEY_FILE_BYTES} bytes")
    try:
        return parse_strict(data)
    except MalformedError as exc:
        if _looks_like_hmac_ring(data):
            raise ConfigError(f"{path}: an HMAC key ring. {MIGRATION}") from None
        raise ConfigError(f"{path}: {what} is not valid: {exc}") from None


def _looks_like_hmac_ring(data: bytes) -> bool:
    """The YAML ``{active: ..., keys: {id: secret}}`` of earlier versions (not JSON)."""
    import yaml

    with contextlib.suppress(Exception):  # a guess for a better message, nothing more
        raw = yaml.safe_load(data)
        return isinstance(raw, dict) and isinstance(raw.get("keys"), dict)
    return False


def load_ring(path: str | Path) -> KeyRing:
    """The trusted key ring in ``path``."""
    path = Path(path)
    raw = _read(path, "trusted key ring")
    if isinstance(raw.get("keys"), dict):
        raise ConfigError(f"{path}: an HMAC key ring. {MIGRATION}")
    try:
        ring = msgspec.convert(raw, RingFile)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    keys = []
    for entry in ring.keys:
        try:
            keys.append(public_key_of(entry))
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    try:
        return KeyRing(keys)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def public_key_of(entry: RingEntry) -> PublicKey:
    return PublicKey(
        entry.key_id,
        entry.role,
        bytes.fromhex(entry.public_key),
        tuple(entry.rollouts) if entry.rollouts is not None else None,
        entry.name,
        frozenset(entry.signoff_roles),
    )


def ring_entry(key: PublicKey, comment: str | None = None) -> RingEntry:
    return RingEntry(
        key_id=key.key_id,
        role=key.role,
        public_key=key.public_hex,
        rollouts=list(key.rollouts) if key.rollouts is not None else None,
        name=key.name,
        signoff_roles=sorted(key.signoff_roles),
        comment=comment,
    )


def load_signing_key(path: str | Path, role: Role | None = None) -> SigningKey:
    """The private key in ``path`` (which must be readable by its owner only)."""
    path = Path(path)
    with contextlib.suppress(OSError):  # a missing file is reported by _read
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise ConfigError(
                f"{path}: permissions {mode:04o} are too open for a private key (chmod 600 {path})"
            )
    raw = _read(path, "signing key")
    if "keys" in raw or "active" in raw:
        raise ConfigError(f"{path}: an HMAC key ring. {MIGRATION}")
    try:
        entry = msgspec.convert(raw, KeyFile)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if role is not None and entry.role != role:
        raise ConfigError(f"{path}: {_a(entry.role)} key, where {_a(role)} key is needed")
    try:
        return SigningKey.from_seed(
            entry.key_id, entry.role, bytes.fromhex(entry.private_key), entry.name
        )
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _a(role: str) -> str:
    return f"an {role}" if role[0] in "aeiou" else f"a {role}"


def write_signing_key(key: SigningKey, path: str | Path) -> Path:
    """Write ``key`` to a new file, mode 0600 (an existing file is never overwritten)."""
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    path = Path(path)
    seed = key.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    body = KeyFile(key_id=key.key_id, role=key.role, private_key=seed.hex(), name=key.name)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path}: exists; a signing key is never overwritten") from None
    except OSError as exc:  # a missing directory, no permission: say which, no traceback
        raise ConfigError(f"{path}: cannot write the key ({exc.strerror})") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(msgspec.json.format(msgspec.json.encode(body)) + b"\n")
    return path


def write_ring(path: str | Path, keys: list[PublicKey] | KeyRing) -> Path:
    """Write (or replace) the trusted key ring in ``path``."""
    path = Path(path)
    ring = KeyRing(list(keys.values()) if isinstance(keys, KeyRing) else keys)  # validates
    body = RingFile(keys=[ring_entry(k) for k in ring.values()])
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(msgspec.json.format(msgspec.json.encode(body)) + b"\n")
        tmp.replace(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the ring ({exc.strerror})") from None
    return path


def add_to_ring(path: str | Path, key: PublicKey) -> KeyRing:
    """Add ``key`` to the ring in ``path`` (created when missing); ids stay unique."""
    path = Path(path)
    keys = list(load_ring(path).values()) if path.exists() else []
    ring = KeyRing([*keys, key])
    write_ring(path, ring)
    return ring


def refuse_legacy_env(env: Mapping[str, str] | None = None) -> None:
    env = os.environ if env is None else env
    found = [name for name in LEGACY_ENV if env.get(name)]
    if found:
        raise ConfigError(f"{', '.join(found)} set. {MIGRATION}")


def signing_key_from(
    path: str | Path | None, variable: str, role: Role, env: Mapping[str, str] | None = None
) -> SigningKey | None:
    """The ``role`` key from ``path``, else from the file ``variable`` names; None if neither."""
    env = os.environ if env is None else env
    refuse_legacy_env(env)
    chosen = path or env.get(variable)
    return load_signing_key(chosen, role) if chosen else None


def ring_from(path: str | Path | None, env: Mapping[str, str] | None = None) -> KeyRing | None:
    """The ring from ``path``, else from ``ROLLGUARD_TRUSTED_KEYS_FILE``; None if neither."""
    env = os.environ if env is None else env
    refuse_legacy_env(env)
    chosen = path or env.get(ENV_TRUSTED_KEYS_FILE)
    return load_ring(chosen) if chosen else None
