"""Signing and idempotency keys of control commands; key files and rings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.keys import OPERATOR, RING, WORKER
from tests.secrets import assert_clean, signing_key
from topics.commands import (
    Command,
    Evidence,
    command_id,
    decode_command,
    encode_command,
    sign,
    sign_command,
    wire_document,
)
from topics.errors import ConfigError
from topics.keyfiles import (
    add_to_ring,
    load_ring,
    load_signing_key,
    refuse_legacy_env,
    ring_from,
    signing_key_from,
    write_signing_key,
)
from topics.keys import KeyRing, SigningKey
from topics.signing import MalformedError, canonical, parse_strict, verify_document


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
                window_s=300,
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
    signed = sign(make(), WORKER)
    assert signed.key_id == WORKER.key_id and len(signed.signature) == 128
    back = decode_command(encode_command(signed))
    assert back == signed
    assert verify_document(parse_strict(encode_command(back)), RING) == (
        "ok",
        RING[WORKER.key_id],
    )


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
        {"issuer": "operator:ana"},
        {"key_id": OPERATOR.key_id},
    ],
)
def test_any_changed_field_breaks_the_signature(change: dict[str, Any]) -> None:
    tampered = msgspec.structs.replace(sign(make(), WORKER), **change)
    assert verify_document(wire_document(tampered), RING)[0] == "bad_signature"


def test_unsigned_unknown_key_and_wrong_key_are_told_apart() -> None:
    assert verify_document(wire_document(make()), RING)[0] == "unsigned"
    stranger = SigningKey.generate("w9", "worker")
    assert verify_document(wire_document(sign(make(), stranger)), RING)[0] == "unknown_key"
    impostor = SigningKey.generate(WORKER.key_id, "worker")  # a public id, another key
    assert verify_document(wire_document(sign(make(), impostor)), RING)[0] == "bad_signature"


def test_the_signature_covers_the_wire_form_whatever_its_order_and_spacing() -> None:
    doc = wire_document(sign(make(), WORKER))
    spaced = json.dumps(dict(reversed(list(doc.items()))), indent=3).encode()
    assert verify_document(parse_strict(spaced), RING)[0] == "ok"
    assert b"signature" not in canonical(doc)
    # RFC 8785 numbers: 1.7e9 -> 1700000000, 300.0 -> 300, 1.6 stays 1.6
    assert b'"issued_at":1700000000,' in canonical(doc)
    assert b'"window_s":300}' in canonical(doc)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b'{"a":1,"a":2}', "duplicate member name 'a'"),
        (b'{"a":NaN}', "NaN is not JSON"),
        (b'{"a":1e999}', "number out of range"),
        (b'{"a":9007199254740992}', "integer out of the range"),
        (b'{"a":-9007199254740992}', "integer out of the range"),
        (b'{"a":"\\ud800"}', "unpaired surrogate"),
        (b'{"a":"\xff"}', "not UTF-8"),
        (b"[1]", "expected a JSON object, got array"),
        (b'{"a":' * 9 + b"1" + b"}" * 9, "nested deeper than 8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 8"),
        (b"[" * 100_000, "not JSON"),
        (b'{"a":"x\nfake"}', "not JSON: Invalid control character"),
    ],
)
def test_strict_json_refuses_what_languages_read_differently(data: bytes, why: str) -> None:
    with pytest.raises(MalformedError, match=why.replace("(", r"\(")):
        parse_strict(data)


def test_key_files_round_trip_and_never_show_the_private_key(tmp_path: Path) -> None:
    key = signing_key("k-file", "operator", name="bo")
    path = write_signing_key(key, tmp_path / "k.json")
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = load_signing_key(path, "operator")
    assert loaded.public_key == key.public_key and loaded.name == "bo"
    assert_clean(repr(loaded) + repr(RING) + str(loaded), "repr")
    with pytest.raises(ConfigError, match="never overwritten"):
        write_signing_key(key, path)
    with pytest.raises(ConfigError, match="where a worker key is needed"):
        load_signing_key(path, "worker")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="too open"):
        load_signing_key(path)


def test_broken_key_files_are_clear_errors_that_do_not_quote_the_file(tmp_path: Path) -> None:
    key = signing_key("k-broken", "worker")
    good = write_signing_key(key, tmp_path / "good.json").read_text()
    for name, text in {
        "trailing-comma": good.replace('"role"', '"x": 1,, "role"'),
        "duplicate": good.replace('"role": "worker"', '"role": "worker", "role": "operator"'),
        "unknown-field": good.replace('"role"', '"extra": "y", "role"'),
        "yaml": good.replace("{", "").replace("}", "").replace(",", "\n"),
    }.items():
        path = tmp_path / f"{name}.json"
        path.write_text(text)
        path.chmod(0o600)
        with pytest.raises(ConfigError) as err:
            load_signing_key(path)
        assert str(path) in str(err.value)
        assert_clean(str(err.value), f"error for {name}")


def test_rings_hold_public_keys_with_roles_and_rotate_by_id(tmp_path: Path) -> None:
    path = tmp_path / "ring.json"
    old = SigningKey.generate("w-2025", "worker")
    new = SigningKey.generate("w-2026", "worker")
    add_to_ring(path, old.public(rollouts=("pay-*",)))
    ring = add_to_ring(path, new.public(rollouts=("pay-*",)))
    assert sorted(ring) == ["w-2025", "w-2026"] and load_ring(path) == ring
    assert "private" not in path.read_text()
    with pytest.raises(ConfigError, match="appears twice"):
        add_to_ring(path, new.public(rollouts=("x",)))
    assert repr(ring) == "KeyRing(worker=['w-2025', 'w-2026'], operator=[])"


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ({"role": "worker"}, "must name the rollouts"),
        ({"role": "worker", "rollouts": ["*"]}, "every rollout"),
        ({"role": "worker", "rollouts": ["a"], "name": "x"}, "for operator keys"),
        ({"role": "operator"}, "needs the name of its holder"),
        ({"role": "operator", "name": "ana\n"}, "name"),
        ({"role": "admin", "name": "x"}, "Invalid enum value 'admin'"),
        ({"role": "operator", "name": "a", "public_key": "00" * 31}, "public_key"),
        ({"role": "operator", "name": "a", "extra": 1}, "unknown field `extra`"),
        ({"role": "operator", "name": "a", "key_id": "k\n"}, "key_id"),
    ],
)
def test_ring_entries_are_strict(tmp_path: Path, entry: dict[str, Any], why: str) -> None:
    base = {"key_id": "k1", "public_key": WORKER.public_key.hex()}
    path = tmp_path / "ring.json"
    path.write_text(json.dumps({"keys": [base | entry]}))
    with pytest.raises(ConfigError, match=why):
        load_ring(path)


def test_hmac_configuration_is_refused_with_the_migration_note(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="HMAC signing keys were removed"):
        refuse_legacy_env({"ROLLGUARD_SIGNING_KEYS": "k1=0123456789abcdef0123"})
    old = tmp_path / "keys.yaml"
    old.write_text("active: k1\nkeys:\n  k1: hmac-secret-0123456789\n")
    old.chmod(0o600)
    for load in (load_ring, load_signing_key):
        with pytest.raises(ConfigError, match="an HMAC key ring") as err:
            load(old)
        assert "hmac-secret" not in str(err.value)


def test_environment_names_the_files(tmp_path: Path) -> None:
    path = write_signing_key(WORKER, tmp_path / "w.json")
    env = {"ROLLGUARD_SIGNING_KEY_FILE": str(path)}
    key = signing_key_from(None, "ROLLGUARD_SIGNING_KEY_FILE", "worker", env)
    assert key is not None and key.key_id == WORKER.key_id
    assert signing_key_from(None, "ROLLGUARD_SIGNING_KEY_FILE", "worker", {}) is None
    assert ring_from(None, {}) is None
    with pytest.raises(ConfigError, match="cannot read"):
        ring_from(None, {"ROLLGUARD_TRUSTED_KEYS_FILE": str(tmp_path / "missing.json")})


def test_an_empty_ring_is_refused() -> None:
    with pytest.raises(ConfigError, match="empty"):
        KeyRing([])


def signed_the_long_way(command: Command, key: SigningKey) -> bytes:
    """What a command's wire bytes were before they were made once: encode the unsigned
    command, parse it, sign its RFC 8785 form, encode the signed command again."""
    unsigned = msgspec.structs.replace(command, key_id=key.key_id, signature="")
    signature = key.sign(canonical(json.loads(encode_command(unsigned))))
    return encode_command(msgspec.structs.replace(unsigned, signature=signature))


@given(
    reason=st.text(max_size=40),
    observed=st.floats(allow_nan=False, allow_infinity=False, width=64) | st.integers(-10, 10**6),
    window=st.integers(0, 10**6) | st.floats(0, 1e6, allow_nan=False),
    advisory=st.booleans(),
    examples=st.lists(st.text(min_size=1, max_size=8), max_size=3),
)
@settings(max_examples=150, deadline=None)
def test_a_command_is_serialised_once_into_the_bytes_it_always_had(
    reason: str, observed: float, window: float, advisory: bool, examples: list[str]
) -> None:
    evidence = Evidence(rule="r", signal="s", variant="canary", observed=observed,
                        window_s=window, examples=examples)  # fmt: skip
    command = make(reason=reason, evidence=[evidence], advisory=advisory)
    signed = sign_command(command, WORKER)
    assert signed.wire == signed_the_long_way(command, WORKER)  # same bytes, same signature
    assert signed.wire == encode_command(signed.command)
    assert sign(command, WORKER) == signed.command
    assert verify_document(parse_strict(signed.wire), RING)[0] == "ok"
