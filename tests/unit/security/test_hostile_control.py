"""Hostile control messages (``tests/hostile.py``) through everything that reads the control
topic: the client's decision, ``rollguard tail``'s and ``rollguard export``'s. None raises,
none is obeyed, every one gets a reason from the bounded set, and nothing from the message
reaches a log line or a terminal raw."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.operators.export import _decision
from monitor.operators.tail import _line, status_of
from monitor.orchestrators import REJECT_REASONS, Accepted, HandledStore, Policy, admit
from tests.hostile import GENUINE, NOW, hostile_message
from tests.keys import RING

RAW_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u2028\u2029\u202e]|[\ud800-\udfff]")
STORE = HandledStore(":memory:")
PROPERTIES = settings(max_examples=300, deadline=None)


@PROPERTIES
@given(hostile_message)
def test_the_client_refuses_every_hostile_message_with_a_bounded_reason(data: bytes) -> None:
    result = admit(data, RING, Policy(), STORE, NOW)
    assert not isinstance(result, Accepted)
    assert result.reason in REJECT_REASONS and result.reason != "check_failed"
    assert not RAW_CONTROL.search(result.detail), result.detail
    if result.command is not None:  # only schema-valid fields are ever logged as they are
        for text in (result.command.command_id, result.command.rollout_id):
            assert not RAW_CONTROL.search(text)


@PROPERTIES
@given(hostile_message, st.booleans())
def test_tail_shows_every_hostile_message_without_raising(data: bytes, keys: bool) -> None:
    status, command = status_of(data, RING if keys else None, NOW)
    assert status in REJECT_REASONS or status == "unverified"
    shown = _line(status, command, 0, 7)
    for line in shown.split("\n"):  # tail's own layout: a line, then the reason's lines
        assert not RAW_CONTROL.search(line), line


@PROPERTIES
@given(hostile_message, st.booleans())
def test_export_records_every_hostile_message_without_raising(data: bytes, keys: bool) -> None:
    _, verification = _decision(data, RING if keys else None)
    assert not verification.startswith("ok")
    assert verification in REJECT_REASONS or verification == "unverified"


def test_the_genuine_command_itself_is_accepted(tmp_path: Path) -> None:
    import json

    store = HandledStore(tmp_path / "s.sqlite")
    assert isinstance(admit(json.dumps(GENUINE).encode(), RING, Policy(), store, NOW), Accepted)
