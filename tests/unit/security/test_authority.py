"""The authority table of ``docs/signing.md``, one test per row, through what the client
runs for every message (:func:`monitor.orchestrators.admit`: the checks, then the store) and what
the worker's ingest runs for every control-plane event (:class:`ControlPlaneGate`)."""

from __future__ import annotations

from itertools import count
from pathlib import Path
from typing import Any

import pytest

from monitor.orchestrators import Accepted, HandledStore, Policy, admit
from topics.authority import OPERATOR_ACTIONS, WORKER_ACTIONS
from topics.codec import encode_event
from topics.commands import Command, encode_command, sign
from topics.control_plane import ControlPlaneGate, sign_event
from topics.events import Plan, Signoff
from topics.keys import KeyRing, SigningKey

NOW = 1_800_000_000.0
WORKER = SigningKey.generate("w1", "worker")
ANA = SigningKey.generate("op-ana", "operator", name="ana")
BOB = SigningKey.generate("op-bob", "operator", name="bob")  # only for pay-*, no sign-offs
RING = KeyRing([
    WORKER.public(rollouts=("r1", "r2", "pay-*")),
    ANA.public(signoff_roles=frozenset({"cto"})),
    BOB.public(rollouts=("pay-*",)),
])  # fmt: skip
_ids = count()


def command(key: SigningKey, action: str, rollout: str = "r1", dt: float = 0.0, **kw: Any) -> bytes:
    issuer = "worker" if key.role == "worker" else f"operator:{key.name}"
    body: dict[str, Any] = {
        "v": 1, "command_id": f"cmd-{next(_ids):08d}", "rollout_id": rollout, "stage": "s1",
        "action": action, "reason": "test", "issued_at": NOW + dt, "expires_at": NOW + dt + 300,
        "issuer": issuer,
    }  # fmt: skip
    return encode_command(sign(Command(**(body | kw)), key))


class Client:
    """The client's decision per message, with a real store (no Kafka needed for it)."""

    def __init__(self, path: Path) -> None:
        self.store = HandledStore(path)

    def send(self, data: bytes, now: float = NOW) -> str:
        result = admit(data, RING, Policy(), self.store, now)
        if not isinstance(result, Accepted):
            return result.reason
        self.store.record(result.command, now, result.trust)
        return f"delivered:{result.trust}"


@pytest.fixture
def client(tmp_path: Path) -> Client:
    return Client(tmp_path / "state.sqlite")


# --- commands, stateless rows ----------------------------------------------------------


@pytest.mark.parametrize("action", sorted(WORKER_ACTIONS))
def test_worker_keys_sign_rule_decisions_for_their_rollouts(client: Client, action: str) -> None:
    assert client.send(command(WORKER, action, "r1")) == "delivered:worker"
    assert client.send(command(WORKER, action, "pay-eu", dt=1)) == "delivered:worker"


@pytest.mark.parametrize(
    ("rollout", "action", "why"),
    [
        ("r1", "resume", "resume is for humans"),
        ("r3", "promote", "a rollout not in the key's list"),
        ("pay", "promote", "'pay-*' is a prefix: 'pay' itself is not covered"),
        ("*", "halt", "never every rollout"),
    ],
)
def test_worker_keys_may_not_sign_beyond_their_row(
    client: Client, rollout: str, action: str, why: str
) -> None:
    assert client.send(command(WORKER, action, rollout)) == "not_authorized", why


@pytest.mark.parametrize("issuer", ["operator:ana", "operator:x", "worker2"])
def test_worker_keys_sign_as_worker_exactly(client: Client, issuer: str) -> None:
    expected = "malformed" if issuer == "worker2" else "not_authorized"  # issuer pattern
    assert client.send(command(WORKER, "pause", issuer=issuer)) == expected


@pytest.mark.parametrize("action", sorted(OPERATOR_ACTIONS))
@pytest.mark.parametrize("rollout", ["r1", "*"])
def test_operator_keys_sign_human_actions(client: Client, action: str, rollout: str) -> None:
    assert client.send(command(ANA, action, rollout)) == "delivered:operator"


@pytest.mark.parametrize("action", sorted(WORKER_ACTIONS - OPERATOR_ACTIONS))
def test_operator_keys_do_not_sign_rule_decisions(client: Client, action: str) -> None:
    assert client.send(command(ANA, action)) == "not_authorized"


@pytest.mark.parametrize("issuer", ["worker", "operator:bob", "operator:Ana"])
def test_operator_keys_sign_as_their_holder_exactly(client: Client, issuer: str) -> None:
    assert client.send(command(ANA, "halt", issuer=issuer)) == "not_authorized"


def test_operator_keys_limited_to_rollouts_stay_within_them(client: Client) -> None:
    assert client.send(command(BOB, "halt", "pay-eu")) == "delivered:operator"
    assert client.send(command(BOB, "halt", "r1")) == "not_authorized"
    assert client.send(command(BOB, "halt", "*")) == "not_authorized"


# --- commands, the halt rule (stateful) ------------------------------------------------


def test_after_an_operator_halt_no_worker_command_is_delivered(client: Client) -> None:
    assert client.send(command(ANA, "halt", "r1")) == "delivered:operator"
    for i, action in enumerate(sorted(WORKER_ACTIONS)):
        assert client.send(command(WORKER, action, "r1", dt=10 + i)) == "halted", action
    assert client.send(command(WORKER, "resume", "r1", dt=20)) == "not_authorized"
    assert client.send(command(WORKER, "promote", "r2", dt=21)) == "delivered:worker"


def test_only_an_operator_resume_reopens_and_any_operator_may(client: Client) -> None:
    assert client.send(command(ANA, "halt", "pay-eu")) == "delivered:operator"
    assert client.send(command(WORKER, "promote", "pay-eu", dt=5)) == "halted"
    assert client.send(command(BOB, "resume", "pay-eu", dt=6)) == "delivered:operator"
    assert client.send(command(WORKER, "promote", "pay-eu", dt=7)) == "delivered:worker"


def test_a_halt_of_every_rollout_holds_until_resumed_per_rollout_or_for_all(
    client: Client,
) -> None:
    assert client.send(command(ANA, "halt", "*")) == "delivered:operator"
    assert client.send(command(WORKER, "rollback", "r1", dt=1)) == "halted"
    assert client.send(command(ANA, "resume", "r1", dt=2)) == "delivered:operator"
    assert client.send(command(WORKER, "rollback", "r1", dt=3)) == "delivered:worker"
    assert client.send(command(WORKER, "rollback", "r2", dt=3)) == "halted"
    assert client.send(command(ANA, "resume", "*", dt=4)) == "delivered:operator"
    assert client.send(command(WORKER, "rollback", "r2", dt=5)) == "delivered:worker"


def test_the_halt_survives_a_restart_of_the_client(tmp_path: Path) -> None:
    first = Client(tmp_path / "s.sqlite")
    assert first.send(command(ANA, "halt", "r1")) == "delivered:operator"
    first.store.close()
    second = Client(tmp_path / "s.sqlite")
    assert second.send(command(WORKER, "promote", "r1", dt=1)) == "halted"


def test_a_replayed_old_resume_does_not_reopen(client: Client) -> None:
    old_resume = command(ANA, "resume", "r1", dt=0)
    assert client.send(command(ANA, "halt", "r1", dt=10)) == "delivered:operator"
    assert client.send(old_resume) == "replayed"  # older than the newest operator command
    assert client.send(command(WORKER, "promote", "r1", dt=11)) == "halted"


# --- control-plane events on telemetry (the worker's ingest) ---------------------------

GATE = ControlPlaneGate(RING)


def plan(rollout: str = "r1", action: str = "dry_run") -> Plan:
    return Plan(v=1, rollout_id=rollout, variant="canary", ts=NOW, action=action)  # type: ignore[arg-type]


def signoff(role: str = "cto", by: str = "ana") -> Signoff:
    return Signoff(v=1, rollout_id="r1", variant="canary", ts=NOW, stage="s1", role=role, by=by)


def verdict(event: Plan | Signoff, data: bytes | None = None) -> str:
    screen = GATE.screen(encode_event(event) if data is None else data)
    assert screen is not None
    return screen.refused[0].reason if screen.refused else "ok"


@pytest.mark.parametrize(
    "action", ["registered", "stage_changed", "traffic_share", "paused", "resumed",
               "completed", "aborted", "dry_run"],
)  # fmt: skip
def test_operators_sign_every_plan_event(action: str) -> None:
    assert verdict(sign_event(plan(action=action), ANA)) == "ok"
    assert verdict(plan(action=action)) == "unsigned"


def test_plan_events_need_an_operator_key_for_the_rollout() -> None:
    assert verdict(sign_event(plan(), WORKER)) == "not_authorized"
    assert verdict(sign_event(plan("pay-eu"), BOB)) == "ok"
    assert verdict(sign_event(plan("r1"), BOB)) == "not_authorized"
    assert verdict(sign_event(plan(), SigningKey.generate("op-x", "operator", name="x"))) == (
        "unknown_key"
    )
    signed = encode_event(sign_event(plan(action="registered"), ANA))
    tampered = signed.replace(b'"registered"', b'"completed"')
    assert verdict(plan(), tampered) == "bad_signature"


def test_signoffs_need_the_role_and_the_holder() -> None:
    assert verdict(sign_event(signoff(), ANA)) == "ok"
    assert verdict(sign_event(signoff(role="coo"), ANA)) == "not_authorized"
    assert verdict(sign_event(signoff(by="Jane Doe"), ANA)) == "not_authorized"
    assert verdict(sign_event(signoff(by="bob"), BOB)) == "not_authorized"  # no sign-off roles
    assert verdict(signoff()) == "unsigned"
