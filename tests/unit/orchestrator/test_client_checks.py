"""The client's decoder and checks without Kafka: boundaries, and a fuzz that nothing but
the genuine command is ever accepted."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.orchestrators import Accepted, HandledStore, Policy, Rejected, check
from tests.keys import OPERATOR, RING, WORKER
from topics.commands import Command, Evidence, command_id, encode_command, sign

NOW = 1_800_000_000.0
KEYS = RING
POLICY = Policy(clock_skew_s=30, max_lifetime_s=3600)


def signed(**fields: Any) -> Command:
    base: dict[str, Any] = {
        "v": 1,
        "command_id": command_id("r1", "canary-5", "rs1", "rollback", 7),
        "rollout_id": "r1",
        "stage": "canary-5",
        "action": "rollback",
        "reason": "p99 1.6x baseline",
        "rule": "p99",
        "evidence": [Evidence(rule="p99", signal="p99_latency_ms", variant="canary", observed=9.5)],
        "seq": 7,
        "rule_set_version": "rs1",
        "issued_at": NOW,
        "expires_at": NOW + 300,
        "issuer": "worker",
    }
    key = OPERATOR if str(fields.get("issuer", "")).startswith("operator:") else WORKER
    return sign(Command(**(base | fields)), key)


GENUINE = signed()
GENUINE_BYTES = encode_command(GENUINE)


def reason(data: bytes, now: float = NOW, policy: Policy = POLICY) -> str:
    result = check(data, KEYS, policy, now)
    return "accepted" if isinstance(result, Accepted) else result.reason


def test_genuine_command_is_accepted_with_its_trust() -> None:
    result = check(GENUINE_BYTES, KEYS, POLICY, NOW)
    assert isinstance(result, Accepted) and result.trust == "worker"
    assert result.command == GENUINE
    human = check(encode_command(signed(issuer="operator:ana", action="resume")), KEYS, POLICY, NOW)
    assert isinstance(human, Accepted) and human.trust == "operator"


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (NOW + 300 + 30, "accepted"),  # at the skew allowance
        (NOW + 300 + 31, "expired"),
        (NOW - 30, "accepted"),
        (NOW - 31, "not_yet_valid"),
    ],
)
def test_time_window_boundaries(now: float, expected: str) -> None:
    assert reason(GENUINE_BYTES, now) == expected


def test_lifetime_limit_and_inverted_window() -> None:
    assert reason(encode_command(signed(expires_at=NOW + 3601))) == "lifetime_too_long"
    assert reason(encode_command(signed(expires_at=NOW))) == "malformed"


def test_advisory_is_held_back_unless_asked_for() -> None:
    advisory = encode_command(signed(advisory=True))
    assert reason(advisory) == "advisory"
    assert reason(advisory, policy=Policy(max_lifetime_s=3600, deliver_advisory=True)) == "accepted"


def test_store_flags_duplicates_and_replays_by_role(tmp_path: Any) -> None:
    store = HandledStore(tmp_path / "s.sqlite")
    store.record(GENUINE, NOW, "worker")
    assert store.seen(GENUINE.command_id)
    older = signed(seq=6, command_id="a" * 32, issued_at=NOW - 5)
    assert store.is_replay(older, "worker") == NOW
    human = signed(command_id="b" * 32, issued_at=NOW - 5, issuer="operator:ana", action="halt")
    assert store.is_replay(human, "operator") is None  # another clock
    same_instant = signed(seq=8, command_id="c" * 32, action="halt")
    assert store.is_replay(same_instant, "worker") is None
    store.close()
    reopened = HandledStore(tmp_path / "s.sqlite")
    assert reopened.seen(GENUINE.command_id) and reopened.high_water("r1", "worker") == NOW
    reopened.close()


# --- fuzz: the decoder never raises, and never accepts anything but the genuine command ---

FUZZ = settings(max_examples=200, deadline=None)


@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes_are_never_accepted(data: bytes) -> None:
    assert isinstance(check(data, KEYS, POLICY, NOW), Rejected)


@FUZZ
@given(
    position=st.integers(min_value=0, max_value=len(GENUINE_BYTES) - 1),
    replacement=st.binary(min_size=0, max_size=8),
    cut=st.integers(min_value=0, max_value=8),
)
def test_byte_level_mutations_are_never_accepted_as_something_else(
    position: int, replacement: bytes, cut: int
) -> None:
    data = GENUINE_BYTES[:position] + replacement + GENUINE_BYTES[position + cut :]
    result = check(data, KEYS, POLICY, NOW)
    if isinstance(result, Accepted):  # e.g. inserted whitespace: the same command, unchanged
        assert result.command == GENUINE


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@FUZZ
@given(
    changes=st.dictionaries(
        st.sampled_from([*Command.__struct_fields__, "extra"]), json_values, min_size=1, max_size=3
    ),
    drop=st.sets(st.sampled_from(Command.__struct_fields__), max_size=3),
)
def test_field_level_mutations_are_never_accepted_as_something_else(
    changes: dict[str, Any], drop: set[str]
) -> None:
    body = msgspec.to_builtins(GENUINE) | changes
    for name in drop:
        body.pop(name, None)
    try:
        data = json.dumps(body).encode()
    except (ValueError, TypeError):
        return
    result = check(data, KEYS, POLICY, NOW)
    if isinstance(result, Accepted):  # only if every change was a no-op (same value again)
        assert result.command == GENUINE
