"""Issue #17's attacks (and #16's control side), each shown to do no harm any more. At
ca75cb7 every one of them worked (``git show 3841933`` has them as passing tests). The
end-to-end versions through the real broker are in ``tests/integration/security``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
import rfc8785
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from monitor.core import Core
from monitor.orchestrators import Accepted, ClientConfig, Policy, Rejected, check
from monitor.worker.http import build_web_app
from monitor.worker.metrics import WorkerMetrics
from tests.keys import OPERATOR, RING, WORKER
from tests.secrets import assert_clean, secret, signing_key
from tests.unit.core.helpers import T0, orders, plan_set, register, rule
from topics.codec import encode_event
from topics.commands import Command, command_id, encode_command, sign, wire_document
from topics.control_plane import ControlPlaneGate
from topics.events import Plan
from topics.keyfiles import load_signing_key
from topics.keys import SigningKey

NOW = 1_800_000_000.0
POLICY = Policy()


def command(**fields: Any) -> Command:
    base: dict[str, Any] = {
        "v": 1,
        "command_id": command_id("r1", "canary-5", "rs1", "promote", 1),
        "rollout_id": "r1",
        "stage": "canary-5",
        "action": "promote",
        "reason": "x",
        "issued_at": NOW,
        "expires_at": NOW + 300,
        "issuer": "worker",
    }
    return Command(**(base | fields))


def outcome(data: bytes | Command) -> str:
    wire = encode_command(data) if isinstance(data, Command) else data
    result = check(wire, RING, POLICY, NOW)
    return "accepted" if isinstance(result, Accepted) else result.reason


def test_a_verifier_cannot_forge_a_worker_rollback() -> None:
    held = RING[WORKER.key_id]  # all an orchestrator holds: a public key
    assert not any(isinstance(v, SigningKey) for v in vars(held).values())
    as_seed = SigningKey.from_seed(WORKER.key_id, "worker", held.public_key)
    assert outcome(sign(command(action="rollback"), as_seed)) == "bad_signature"
    attacker = SigningKey.generate(WORKER.key_id, "worker")  # the key id is public
    assert outcome(sign(command(action="rollback"), attacker)) == "bad_signature"
    assert outcome(sign(command(action="rollback"), WORKER)) == "accepted"


@pytest.mark.parametrize("hostile", ["dry_run", "completed", "aborted", "registered"])
def test_unsigned_plan_events_on_telemetry_are_refused(hostile: str) -> None:
    event = Plan(v=1, rollout_id="r1", variant="canary", ts=T0, action=hostile)  # type: ignore[arg-type]
    screen = ControlPlaneGate(RING).screen(encode_event(event))
    assert screen is not None and [r.reason for r in screen.refused] == ["unsigned"]


def test_the_core_still_rolls_back_when_only_signed_plan_events_count(tmp_path: Path) -> None:
    """What the gate protects: the same core, fed the events the gate lets through."""
    plans = plan_set(tmp_path, [rule("errors", action="rollback")])
    gate = ControlPlaneGate(RING)
    core = Core(plans)
    core.process([register()])
    hostile = encode_event(Plan(v=1, rollout_id="r1", variant="canary", ts=T0 + 1,
                                action="dry_run"))  # fmt: skip
    screen = gate.screen(hostile)
    assert screen is not None and screen.refused  # never reaches the core
    out = [c for t in range(2, 8) for c in core.process(orders(t, 20, errors=10))]
    assert [c.action for c in out if not c.advisory] == ["rollback"]


def test_worker_keys_cannot_sign_for_every_rollout_and_issuers_are_strict() -> None:
    assert outcome(sign(command(rollout_id="*"), WORKER)) == "not_authorized"
    assert outcome(sign(command(issuer="Operator:x"), WORKER)) == "malformed"  # pattern
    assert outcome(sign(command(issuer="operator:ana"), WORKER)) == "not_authorized"
    empty = command(issuer="operator:", action="resume")
    assert outcome(sign(empty, OPERATOR)) == "malformed"
    assert outcome(sign(command(issuer="operator:bob", action="resume"), OPERATOR)) == (
        "not_authorized"
    )
    assert outcome(sign(command(issuer="operator:ana", action="resume"), OPERATOR)) == "accepted"


def test_the_signed_form_is_rfc8785_of_the_wire_object() -> None:
    """What a verifier in any language does, from the spec: parse, drop `signature`,
    canonicalize, verify with the raw 32-byte public key."""
    wire = json.loads(encode_command(sign(command(issued_at=NOW + 0.5), WORKER)))
    signature = bytes.fromhex(wire.pop("signature"))
    public = Ed25519PublicKey.from_public_bytes(RING[wire["key_id"]].public_key)
    public.verify(signature, rfc8785.dumps(wire))  # raises if it does not verify


def test_rollouts_view_needs_the_token_when_one_is_set(tmp_path: Path) -> None:
    token = secret("http token", "tok-view-0123456789")
    core = Core(plan_set(tmp_path, [rule()]))
    core.process([register()])

    async def get(headers: dict[str, str]) -> int:
        app = build_web_app(core, WorkerMetrics("w", "0"), lambda: {"ok": True}, token=token)
        async with TestClient(TestServer(app)) as client:
            return (await client.get("/rollouts/r1", headers=headers)).status

    assert asyncio.run(get({})) == 401
    assert asyncio.run(get({"Authorization": "Bearer wrong"})) == 401
    assert asyncio.run(get({"Authorization": f"Bearer {token}"})) == 200


def test_a_broken_key_file_error_does_not_print_the_secret(tmp_path: Path) -> None:
    key = signing_key("k-broken-yaml", "worker")
    path = tmp_path / "key.json"
    seed = key.private.private_bytes_raw().hex()
    path.write_text('{"key_id": "k", "role": "worker", "private_key": "' + seed + '": [\n')
    path.chmod(0o600)
    with pytest.raises(Exception) as err:
        load_signing_key(path)
    assert_clean(str(err.value), "key file error")


def test_repr_of_a_client_config_hides_the_sasl_password() -> None:
    password = secret("sasl password (repr)", "hunter2-sasl-0123")
    config = ClientConfig("k:9092", "c", "g", ":memory:",
                          kafka_options={"sasl_plain_password": password})  # fmt: skip
    assert_clean(repr(config), "repr")
    assert "sasl_plain_password" in repr(config)


def test_unknown_fields_and_duplicate_keys_are_refused() -> None:
    schema = json.loads(Path("topics/schemas/command.schema.json").read_text())
    assert schema["$defs"]["Command"]["additionalProperties"] is False
    assert schema["$defs"]["Evidence"]["additionalProperties"] is False
    wire = encode_command(sign(command(), WORKER))
    assert outcome(wire.replace(b'"v":1', b'"v":1,"extra":"unsigned"')) == "malformed"
    duplicated = wire.replace(b'"action":"promote"', b'"action":"hold","action":"promote"')
    assert outcome(duplicated) == "malformed"


@pytest.mark.parametrize(
    "hostile",
    [
        {"seq": 2**64},
        {"seq": 2**53},
        {"evidence": [{"rule": "r", "signal": "s", "variant": "canary", "samples": 2**64}]},
        {"issued_at": float("nan")},
    ],
)
def test_huge_numbers_without_a_valid_signature_are_malformed_not_a_crash(
    hostile: dict[str, Any],
) -> None:
    body = wire_document(sign(command(), SigningKey.generate(WORKER.key_id, "worker")))
    data = json.dumps(body | hostile).encode()  # Python writes NaN, which is not JSON
    result = check(data, RING, POLICY, NOW)
    assert isinstance(result, Rejected) and result.reason == "malformed"


def test_a_command_id_with_a_newline_never_gets_as_far_as_a_log_line() -> None:
    fake = "x" * 8 + "\n2026-01-01 INFO delivered HALT"
    result = check(encode_command(command(command_id=fake)), RING, POLICY, NOW)
    assert isinstance(result, Rejected) and result.reason == "malformed"
    assert result.command is None and "\n" not in result.detail


def test_every_outcome_of_a_mangled_command_is_a_reason() -> None:
    """No field of a signed command can be changed, added or removed and still verify."""
    genuine = wire_document(sign(command(), WORKER))
    for name in genuine:
        if name == "signature":
            continue
        changed = dict(genuine)
        changed[name] = "other" if isinstance(genuine[name], str) else 7
        assert outcome(json.dumps(changed).encode()) != "accepted", name
        removed = {k: v for k, v in genuine.items() if k != name}
        assert outcome(json.dumps(removed).encode()) != "accepted", name
    assert outcome(msgspec.json.encode(genuine)) == "accepted"
