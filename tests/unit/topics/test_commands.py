"""Signing, verification and idempotency keys of control commands; signing key rings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from monitor.errors import ConfigError
from topics.commands import (
    Command,
    Evidence,
    canonical_bytes,
    command_id,
    decode_command,
    encode_command,
    sign,
    verify,
)
from topics.keys import KeyRing, keyring_from_env, load_keyring, load_keyring_file

KEY = b"0123456789abcdef-secret"


def make(**changes: Any) -> Command:
    base = Command(
        v=1,
        command_id=command_id("r1", "pct-5", "v1", "rollback", 2),
        rollout_id="r1",
        stage="pct-5",
        action="rollback",
        reason="p99 latency 1.6x baseline for 120 s",
        rule="canary_p99_vs_baseline",
        evidence=[
            Evidence(
                rule="canary_p99_vs_baseline",
                signal="p99_latency_ms",
                variant="canary",
                observed=48.0,
                baseline=30.0,
                threshold=39.0,
                samples=812,
                stats={"ratio": 1.6},
            )
        ],
        seq=2,
        rule_set_version="v1",
        issued_at=1.7e9,
        expires_at=1.7e9 + 300,
    )
    return msgspec.structs.replace(base, **changes)


def test_command_ids_are_deterministic_and_distinct_per_field() -> None:
    base = ("r1", "s", "v", "pause", 1)
    assert command_id(*base) == command_id(*base)
    variants = {
        command_id("r2", "s", "v", "pause", 1),
        command_id("r1", "t", "v", "pause", 1),
        command_id("r1", "s", "w", "pause", 1),
        command_id("r1", "s", "v", "halt", 1),
        command_id("r1", "s", "v", "pause", 2),
        command_id(*base),
    }
    assert len(variants) == 6


def test_signed_command_verifies_and_survives_the_wire() -> None:
    signed = sign(make(), "k1", KEY)
    assert signed.key_id == "k1" and len(signed.signature) == 64
    back = decode_command(encode_command(signed))
    assert back == signed
    assert verify(back, {"k1": KEY}) == "ok"


@pytest.mark.parametrize(
    "change",
    [
        {"action": "promote"},
        {"rollout_id": "r2"},
        {"stage": "pct-50"},
        {"reason": "nothing to see"},
        {"advisory": True},
        {"expires_at": 1.7e9 + 30_000},
        {"seq": 3},
        {"evidence": []},
        {"key_id": "k2"},
    ],
)
def test_any_changed_field_breaks_the_signature(change: dict[str, Any]) -> None:
    signed = sign(make(), "k1", KEY)
    tampered = msgspec.structs.replace(signed, **change)
    assert verify(tampered, {"k1": KEY, "k2": KEY + b"2"}) == "bad_signature"


def test_unsigned_unknown_key_and_wrong_key_are_told_apart() -> None:
    assert verify(make(), {"k1": KEY}) == "unsigned"
    assert verify(sign(make(), "k9", KEY), {"k1": KEY}) == "unknown_key"
    assert verify(sign(make(), "k1", b"another-secret-of-16b"), {"k1": KEY}) == "bad_signature"


def test_canonical_bytes_ignore_key_order_and_the_signature() -> None:
    signed = sign(make(), "k1", KEY)
    as_dict = msgspec.to_builtins(signed)
    reordered = dict(reversed(list(as_dict.items())))
    assert canonical_bytes(reordered) == canonical_bytes(signed)
    assert b"signature" not in canonical_bytes(signed)


def test_keyring_from_env_and_file(tmp_path: Path) -> None:
    ring = keyring_from_env({"ROLLGUARD_SIGNING_KEYS": "old=aaaaaaaaaaaaaaaa,new=hex:" + "ab" * 16})
    assert ring is not None
    assert ring.active_id == "new" and ring.signing_key == bytes.fromhex("ab" * 16)
    assert "aaaa" not in repr(ring) and "abab" not in repr(ring)
    path = tmp_path / "keys.yaml"
    path.write_text("active: k1\nkeys:\n  k1: base64:" + "QUJDREVGR0hJSktMTU5PUA==" + "\n")
    assert load_keyring_file(path).signing_key == b"ABCDEFGHIJKLMNOP"
    assert load_keyring(path).active_id == "k1"


@pytest.mark.parametrize(
    "env",
    [
        {"ROLLGUARD_SIGNING_KEYS": "k1=short"},
        {"ROLLGUARD_SIGNING_KEYS": "noequals"},
        {"ROLLGUARD_SIGNING_KEYS": "k1=hex:zz"},
        {"ROLLGUARD_SIGNING_KEYS": "k1=" + "a" * 16, "ROLLGUARD_SIGNING_KEY_ID": "k2"},
        {},
    ],
)
def test_bad_key_configuration_is_a_clear_config_error(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load_keyring(None, env)


def test_keyring_requires_its_active_key() -> None:
    with pytest.raises(ConfigError):
        KeyRing("missing", {"k1": KEY})
