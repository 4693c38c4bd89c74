"""Hypothesis strategies of hostile control messages: what an attacker (or a buggy producer)
can put on the control topic, around a genuine signed command whose key id is real (key ids
are public). Shared by the client's, ``tail``'s and ``export``'s property tests."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from tests.keys import WORKER
from topics.commands import Command, command_id, sign, wire_document

NOW = 1_800_000_000.0


def genuine(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "v": 1, "command_id": command_id("r1", "s", "rs", "rollback", 1), "rollout_id": "r1",
        "stage": "s", "action": "rollback", "reason": "x", "seq": 1, "issued_at": NOW,
        "expires_at": NOW + 300, "issuer": "worker",
    }  # fmt: skip
    return wire_document(sign(Command(**(base | fields)), WORKER))


GENUINE = genuine()
FIELDS = sorted(GENUINE)

huge_integers = st.sampled_from([2**53, 2**63, 2**64, 2**64 + 1, -(2**64), 10**40, 10**400])
odd_numbers = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e-999"])
control_text = st.lists(
    st.sampled_from(["\n", "\r", "\x00", "\x1b[31m", "\u2028", "\u202e", "\ud800", "a", "\x7f"]),
    min_size=1,
    max_size=6,
).map("".join)


def _dumps(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")


@st.composite
def with_huge_number(draw: st.DrawFn) -> bytes:
    """A number beyond what JSON implementations agree on, where a number or anything goes."""
    doc = dict(GENUINE)
    target = draw(st.sampled_from(["seq", "issued_at", "expires_at", "samples", "v", "extra"]))
    value = draw(huge_integers)
    if target == "samples":
        doc["evidence"] = [{"rule": "r", "signal": "s", "variant": "canary", "samples": value}]
    else:
        doc[target] = value
    return json.dumps(doc).encode()


@st.composite
def with_odd_literal(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(["seq", "issued_at", "expires_at", "v"]))
    text = json.dumps(GENUINE)
    return text.replace(
        f'"{name}": {json.dumps(GENUINE[name])}', f'"{name}": {draw(odd_numbers)}'
    ).encode()


@st.composite
def deeply_nested(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(9, 5_000))
    where = draw(st.sampled_from(["evidence", "extra", "top"]))
    nested = "[" * depth + "]" * depth
    if where == "top":
        return nested.encode()
    return json.dumps(GENUINE).replace('"evidence": []', f'"{where}": {nested}').encode()


@st.composite
def with_control_characters(draw: st.DrawFn) -> bytes:
    """Control characters, newlines, terminal escapes and lone surrogates in ids and text
    (a log line or a terminal must never show them raw)."""
    doc = dict(GENUINE)
    for name in draw(st.sets(st.sampled_from(["command_id", "rollout_id", "reason", "stage",
                                                "issuer", "key_id"]), min_size=1)):  # fmt: skip
        doc[name] = str(doc[name]) + draw(control_text)
    return _dumps(doc)


@st.composite
def with_duplicate_member(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(FIELDS))
    text = json.dumps(GENUINE)
    return text.replace("{", "{" + json.dumps(name) + ": " + json.dumps("hold") + ", ", 1).encode()


@st.composite
def invalid_utf8(draw: st.DrawFn) -> bytes:
    data = bytearray(json.dumps(GENUINE).encode())
    at = draw(st.integers(1, len(data) - 2))
    bad = draw(st.sampled_from([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\x80"]))
    return bytes(data[:at]) + bad + bytes(data[at:])


@st.composite
def oversized(draw: st.DrawFn) -> bytes:
    size = draw(st.sampled_from([65_537, 1 << 20, 10 << 20]))
    return json.dumps(GENUINE | {"reason": "x" * size}).encode()


hostile_message = st.one_of(
    with_huge_number(),
    with_odd_literal(),
    deeply_nested(),
    with_control_characters(),
    with_duplicate_member(),
    invalid_utf8(),
    oversized(),
    st.binary(max_size=512),
)
"""Any of the above: none may crash a reader, none may be obeyed."""
