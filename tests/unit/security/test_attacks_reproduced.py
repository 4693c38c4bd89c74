"""Issue #17 (and the control side of #16), reproduced at ca75cb7: each test PASSES while the
harm is possible. They are replaced by tests that the harm is gone as the fixes land."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp.test_utils import TestClient, TestServer

from monitor.client import Accepted, ClientConfig, HandledStore, Policy, TrustedKeys, check
from monitor.core import Core
from monitor.metrics import WorkerMetrics
from monitor.worker.http import build_web_app
from tests.unit.core.helpers import T0, orders, plan_set, register, rule
from topics.codec import Decoder, encode_event
from topics.commands import Command, canonical_bytes, command_id, encode_command, sign
from topics.events import Plan
from topics.keys import load_keyring_file

NOW = 1_800_000_000.0
WORKER = {"w1": b"worker-secret-0123456789abcdef"}
OPERATOR = {"op1": b"operator-secret-0123456789abcd"}
KEYS = TrustedKeys(worker=WORKER, operator=OPERATOR)
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


def accepted(c: Command) -> bool:
    return isinstance(check(encode_command(c), KEYS, POLICY, NOW), Accepted)


def test_a_verifier_can_forge_a_worker_rollback() -> None:
    # the orchestrator holds what it verifies with: that is the signing secret
    held = KEYS.worker["w1"]
    forged = sign(command(action="rollback", command_id="f" * 32), "w1", held)
    assert accepted(forged)


def test_unsigned_telemetry_dry_run_and_completed_switch_off_a_rollback(tmp_path: Path) -> None:
    plans = plan_set(tmp_path, [rule("errors", action="rollback", threshold={
        "kind": "absolute", "op": ">", "value": 0.1})])  # fmt: skip
    for hostile, effect in (("dry_run", "advisory"), ("completed", "no rollback")):
        core = Core(plans)
        core.process([register()])
        unsigned = encode_event(Plan(v=1, rollout_id="r1", variant="canary", ts=T0 + 1,
                                     action=hostile))  # fmt: skip
        decoded = Decoder().decode(unsigned)
        assert decoded.events and not decoded.dead  # nothing refuses it
        out = core.process(decoded.events)
        for t in range(2, 8):
            out += core.process(orders(t, 20, errors=10))
        rollbacks = [c for c in out if c.action == "rollback"]
        if effect == "advisory":
            assert rollbacks and all(c.advisory for c in rollbacks)
        else:
            assert not rollbacks
            view = core.view("r1")
            assert view is not None and view["status"] == "completed"


def test_a_worker_promote_is_delivered_after_an_operator_halt(tmp_path: Path) -> None:
    store = HandledStore(tmp_path / "s.sqlite")
    halt = sign(command(action="halt", issuer="operator:ana", command_id="h" * 32), "op1",
                OPERATOR["op1"])  # fmt: skip
    assert accepted(halt)
    store.record(halt, NOW)
    promote = sign(command(issued_at=NOW + 1, expires_at=NOW + 301), "w1", WORKER["w1"])
    assert accepted(promote) and not store.seen(promote.command_id)
    assert store.is_replay(promote) is None  # nothing stops it


def test_worker_keys_sign_for_every_rollout_and_issuers_are_loose() -> None:
    assert accepted(sign(command(rollout_id="*"), "w1", WORKER["w1"]))
    assert accepted(sign(command(issuer="Operator:x"), "w1", WORKER["w1"]))
    assert accepted(sign(command(issuer="operator:", action="resume"), "op1", OPERATOR["op1"]))


def test_the_signed_form_cannot_be_implemented_from_the_wire() -> None:
    # a verifier in JavaScript sees the wire JSON; JSON.stringify / RFC 8785 print 1.8e9 as
    # 1800000000 where orjson prints 1800000000.0: it hashes other bytes and refuses
    import rfc8785

    wire = json.loads(encode_command(sign(command(), "w1", WORKER["w1"])))
    del wire["signature"]
    assert rfc8785.dumps(wire) != canonical_bytes(wire)


def test_rollouts_view_answers_without_the_token(tmp_path: Path) -> None:
    core = Core(plan_set(tmp_path, [rule()]))
    core.process([register()])

    async def get() -> int:
        app = build_web_app(core, WorkerMetrics("w", "0"), lambda: {"ok": True}, token="tok-0123456789")
        async with TestClient(TestServer(app)) as client:
            return (await client.get("/rollouts/r1")).status

    assert asyncio.run(get()) == 200


def test_a_yaml_error_in_a_keys_file_prints_the_secret(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text("active: k1\nkeys:\n  k1: super-secret-value-123456: [\n")
    with pytest.raises(Exception) as err:
        load_keyring_file(path)
    assert "super-secret-value-123456" in str(err.value)


def test_repr_of_a_client_config_prints_the_sasl_password() -> None:
    config = ClientConfig("k:9092", "c", "g", ":memory:",
                          kafka_options={"sasl_plain_password": "hunter2-sasl"})  # fmt: skip
    assert "hunter2-sasl" in repr(config)


def test_the_command_schema_and_decoder_accept_unknown_fields_and_duplicate_keys() -> None:
    schema = json.loads(Path("topics/schemas/command.schema.json").read_text())
    assert schema["$defs"]["Command"].get("additionalProperties") is not False
    c = sign(command(), "w1", WORKER["w1"])
    data = encode_command(c).replace(b'"action":"promote"', b'"action":"hold","action":"promote"')
    assert accepted(msgspec.json.decode(data, type=Command))
    assert isinstance(check(data, KEYS, POLICY, NOW), Accepted)  # duplicate: last one wins


def test_compose_binds_everything_to_all_interfaces_with_the_key_inside() -> None:
    text = Path("docker-compose.yml").read_text()
    assert '"29092:29092"' in text and '"3000:3000"' in text
    assert "ROLLGUARD_SIGNING_KEYS:" in text and "GF_SECURITY_ADMIN_PASSWORD: admin" in text


def test_a_huge_seq_without_a_valid_signature_crashes_the_check() -> None:
    body = msgspec.to_builtins(sign(command(), "w1", b"not-the-key-0123456789"))
    body["seq"] = 2**64
    with pytest.raises(TypeError):
        check(json.dumps(body).encode(), KEYS, POLICY, NOW)


def test_an_unsigned_command_id_with_a_newline_reaches_the_log_line() -> None:
    fake = "x" * 8 + "\n2026-01-01 INFO delivered HALT"
    result = check(encode_command(command(command_id=fake)), KEYS, POLICY, NOW)
    assert not isinstance(result, Accepted) and result.reason == "unsigned"
    assert result.command is not None and "\n" in result.command.command_id  # logged as is
