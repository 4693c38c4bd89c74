"""Ed25519 keys with ids and roles: private signing keys, and rings of public keys.

* A :class:`SigningKey` (private) is held by one worker fleet or one human operator; it
  signs. Its ``repr`` never shows the private key.
* A :class:`KeyRing` maps key ids to :class:`PublicKey` s: everything a verifier holds
  (orchestrators, ``rollguard tail`` / ``export``, workers checking control-plane events).
  Rotation is by id: add the new public key to every ring, sign with the new key, then
  drop the old entry.

Each public key says what it may sign (the authority table is :mod:`topics.authority`):

* ``worker`` keys sign rule decisions, for the rollouts in ``rollouts`` only: exact names,
  or prefixes ending in ``*`` (``payments-*``); a bare ``*`` is refused;
* ``operator`` keys belong to one person, ``name``: commands with issuer
  ``operator:<name>``, control-plane events (plan changes), and sign-offs in the roles of
  ``signoff_roles``; optionally only for ``rollouts``.

File formats and where keys come from: :mod:`topics.keyfiles`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from topics.errors import ConfigError
from topics.signing import KEY_ID_PATTERN

Role = Literal["worker", "operator"]
ROLES: Final[tuple[Role, ...]] = ("worker", "operator")
OPERATOR_NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.@-]*(?!\n)$"
ROLLOUT_PATTERN: Final = r"^(\*|[A-Za-z0-9_.:/@+-]+\*?)(?!\n)$"
"""An exact rollout name, a prefix of one followed by ``*``, or ``*`` (operators only)."""
_KEY_ID: Final = re.compile(KEY_ID_PATTERN)
_OPERATOR_NAME: Final = re.compile(OPERATOR_NAME_PATTERN)
_ROLLOUT: Final = re.compile(ROLLOUT_PATTERN)
MAX_KEY_ID: Final = 64
MAX_NAME: Final = 64


@dataclass(frozen=True)
class PublicKey:
    """One verifier-side key: who holds it and what it may sign."""

    key_id: str
    role: Role
    public_key: bytes = field(repr=False)
    """The 32-byte Ed25519 public key (RFC 8032)."""
    rollouts: tuple[str, ...] | None = None
    """Rollouts it may sign for (exact names or ``prefix*``); None: all (operators only)."""
    name: str | None = None
    """The operator it belongs to (issuer ``operator:<name>``, sign-off ``by``)."""
    signoff_roles: frozenset[str] = frozenset()
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"key {self.key_id!r}"
        if not _KEY_ID.search(self.key_id) or len(self.key_id) > MAX_KEY_ID:
            raise ConfigError(
                f"key id {self.key_id[:MAX_KEY_ID]!r}: expected [A-Za-z0-9_.:-], "
                f"at most {MAX_KEY_ID} characters"
            )
        if self.role not in ROLES:
            raise ConfigError(f"{where}: role {self.role!r}: expected worker or operator")
        try:
            key = Ed25519PublicKey.from_public_bytes(self.public_key)
        except ValueError as exc:
            raise ConfigError(f"{where}: not a 32-byte Ed25519 public key") from exc
        object.__setattr__(self, "_key", key)
        if self.role == "worker" and "*" in (self.rollouts or ()):
            raise ConfigError(f"{where}: a worker key may not sign for every rollout ('*')")
        for pattern in self.rollouts or ():
            if not _ROLLOUT.search(pattern) or len(pattern) > 129:
                raise ConfigError(
                    f"{where}: rollout {pattern[:40]!r}: expected a rollout name, or a "
                    "prefix ending in '*'"
                )
        if self.role == "worker":
            if not self.rollouts:
                raise ConfigError(
                    f"{where}: a worker key must name the rollouts it signs for "
                    "(names, or prefixes like 'payments-*')"
                )
            if self.name is not None or self.signoff_roles:
                raise ConfigError(f"{where}: name and signoff_roles are for operator keys")
        elif self.name is None or not _OPERATOR_NAME.search(self.name) or len(self.name) > 64:
            raise ConfigError(
                f"{where}: an operator key needs the name of its holder "
                f"([A-Za-z0-9_.@-], at most {MAX_NAME} characters)"
            )

    def verify(self, signature: bytes, payload: bytes) -> None:
        """Raises ``cryptography.exceptions.InvalidSignature`` unless ``signature`` is valid."""
        self._key.verify(signature, payload)

    def covers(self, rollout_id: str) -> bool:
        """Whether this key may sign for ``rollout_id`` (``*``: every rollout).

        >>> k = SigningKey.generate("w1", "worker").public(rollouts=("pay-*", "demo"))
        >>> [k.covers(r) for r in ("pay-eu", "demo", "demo-2", "*")]
        [True, True, False, False]
        """
        if self.rollouts is None:
            return True
        for pattern in self.rollouts:
            if pattern == rollout_id or (
                pattern.endswith("*") and rollout_id != "*" and rollout_id.startswith(pattern[:-1])
            ):
                return True
        return False

    @property
    def public_hex(self) -> str:
        return self.public_key.hex()

    @property
    def issuer(self) -> str:
        """The ``issuer`` a command signed with this key must carry."""
        return "worker" if self.role == "worker" else f"operator:{self.name}"


class KeyRing(Mapping[str, PublicKey]):
    """Public keys by id: all a verifier needs, nothing it could sign with."""

    def __init__(self, keys: list[PublicKey] | tuple[PublicKey, ...]) -> None:
        if not keys:
            raise ConfigError("no trusted keys: the key ring is empty")
        self._keys: dict[str, PublicKey] = {}
        for key in keys:
            if key.key_id in self._keys:
                raise ConfigError(f"key id {key.key_id!r} appears twice in the key ring")
            self._keys[key.key_id] = key

    def __getitem__(self, key_id: str) -> PublicKey:
        return self._keys[key_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def of_role(self, role: Role) -> list[PublicKey]:
        return [k for k in self._keys.values() if k.role == role]

    def __repr__(self) -> str:
        return (
            f"KeyRing(worker={[k.key_id for k in self.of_role('worker')]}, "
            f"operator={[k.key_id for k in self.of_role('operator')]})"
        )


@dataclass(frozen=True)
class SigningKey:
    """A private Ed25519 key with its id and role (its ``repr`` shows neither key)."""

    key_id: str
    role: Role
    private: Ed25519PrivateKey = field(repr=False, compare=False)
    name: str | None = None

    def __post_init__(self) -> None:
        self.public(rollouts=("x",) if self.role == "worker" else None)  # same checks

    @classmethod
    def generate(cls, key_id: str, role: Role, name: str | None = None) -> SigningKey:
        return cls(key_id, role, Ed25519PrivateKey.generate(), name)

    @classmethod
    def from_seed(cls, key_id: str, role: Role, seed: bytes, name: str | None = None) -> SigningKey:
        """From the 32-byte private seed (RFC 8032's secret key)."""
        try:
            private = Ed25519PrivateKey.from_private_bytes(seed)
        except ValueError as exc:
            raise ConfigError(f"key {key_id!r}: not a 32-byte Ed25519 private key") from exc
        return cls(key_id, role, private, name)

    def sign(self, payload: bytes) -> str:
        """The signature of ``payload``, as 128 lowercase hex digits."""
        return self.private.sign(payload).hex()

    @property
    def public_key(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def public(
        self, rollouts: tuple[str, ...] | None = None, signoff_roles: frozenset[str] = frozenset()
    ) -> PublicKey:
        """Its public half as a ring entry (``rollouts``, ``signoff_roles``: its authority)."""
        return PublicKey(
            self.key_id, self.role, self.public_key, rollouts, self.name, signoff_roles
        )

    def ring(
        self, rollouts: tuple[str, ...] | None = None, signoff_roles: frozenset[str] = frozenset()
    ) -> KeyRing:
        """A ring of this key alone (tests, examples); see :meth:`public`."""
        return KeyRing([self.public(rollouts, signoff_roles)])
