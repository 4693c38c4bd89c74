"""The suite's secrets, and the check that no output of the suite's runs shows one.

Every private key, token and password a test uses is registered here (in every form it
could be printed: hex, base64, base64url). ``tests/conftest.py`` then greps what each test
printed or logged (stdout, stderr, log records, the failure report), and at the end of the
session every output file registered with :func:`watch` (worker and demo logs, CLI
outputs): a secret found anywhere fails the run, naming the secret's label, never its
value. :func:`assert_clean` checks an output on the spot (HTTP bodies, CLI results).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Final

from topics.keys import Role, SigningKey

_SECRETS: dict[str, set[str]] = {}
_FILES: list[Path] = []
MIN_SECRET: Final = 8  # shorter values would match by chance


def register(label: str, value: str | bytes) -> None:
    """Remember ``value`` (and, for bytes, its hex and base64 forms) as a secret."""
    forms = _SECRETS.setdefault(label, set())
    if isinstance(value, bytes):
        forms |= {
            value.hex(),
            value.hex().upper(),
            base64.b64encode(value).decode().rstrip("="),
            base64.urlsafe_b64encode(value).decode().rstrip("="),
        }
    else:
        forms.add(value)
    assert all(len(f) >= MIN_SECRET for f in forms), label


def secret(label: str, value: str) -> str:
    """Register and return ``value`` (for module-level constants)."""
    register(label, value)
    return value


def signing_key(key_id: str, role: Role, name: str | None = None) -> SigningKey:
    """A fresh key whose private half is a registered secret."""
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    key = SigningKey.generate(key_id, role, name)
    register(f"private key {key_id}", key.private.private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    ))  # fmt: skip
    return key


def watch(path: Path) -> Path:
    """Scan ``path`` at the end of the session (an output file: a log, a CLI's output)."""
    _FILES.append(path)
    return path


def leaks(text: str | bytes) -> list[str]:
    """Labels of the secrets ``text`` shows."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return sorted(label for label, forms in _SECRETS.items() if any(f in text for f in forms))


def assert_clean(text: str | bytes, where: str = "output") -> None:
    found = leaks(text)
    assert not found, f"{where} shows test secrets: {found}"


def watched_leaks() -> dict[str, list[str]]:
    """Watched files that show secrets: path -> labels."""
    out: dict[str, list[str]] = {}
    for path in _FILES:
        if path.is_file():
            found = leaks(path.read_bytes())
            if found:
                out[str(path)] = found
    return out


def watched() -> list[Path]:
    return list(_FILES)
