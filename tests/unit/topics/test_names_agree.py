"""Python and JSON Schema judge a name the same way.

The published schemas state ``pattern`` in ECMA-262 syntax, whose ``$`` (without the ``m``
flag) matches only at the very end; Python's ``re`` ``$`` also matches before a final
newline. ``regress`` (the ECMA-262 engine check-jsonschema uses) stands in for every other
validator here.
"""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import regress
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.orchestrators.verdict import ROLLOUT_ID_RE
from tests.unit.topics.test_codec_names import VALID
from topics.codec import Decoder
from topics.names import NAME_PATTERN

SCHEMAS = Path(__file__).resolve().parents[3] / "topics" / "schemas"
EDGES = ["r1", "r1\n", "\nr1", "r 1", "r1\r", "r1\x00", "r1\u2028", "é", "a" * 128, "a:b/c@d+e-f"]
NAMES = st.one_of(
    st.sampled_from(EDGES),
    st.text(alphabet=st.sampled_from("ab1_.:/@+-\n\r\t \x00é"), min_size=1, max_size=12),
)


def ecma_accepts(pattern: str, value: str) -> bool:
    return regress.Regex(pattern).find(value) is not None


def decoder_accepts(name: str) -> bool:
    return bool(Decoder().decode(orjson.dumps(dict(VALID["metric"], name=name))).events)


@settings(max_examples=300, deadline=None)
@given(NAMES)
def test_the_decoder_and_the_published_pattern_agree(name: str) -> None:
    assert decoder_accepts(name) == ecma_accepts(NAME_PATTERN, name)


@given(NAMES)
def test_the_verdict_routes_take_the_same_names(name: str) -> None:
    assert bool(ROLLOUT_ID_RE.fullmatch(name)) == ecma_accepts(NAME_PATTERN, name)


def test_every_whole_name_pattern_in_the_schemas_refuses_a_trailing_newline() -> None:
    patterns = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                patterns.add(node["pattern"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in SCHEMAS.glob("*.json"):
        walk(json.loads(path.read_text()))
    assert NAME_PATTERN in patterns
    for pattern in patterns:
        assert pattern.startswith("^") and pattern.endswith("$"), pattern
        assert not ecma_accepts(pattern, "USD\n" if "A-Z" in pattern else "r1\n"), pattern


def test_a_currency_with_a_trailing_newline_is_refused() -> None:
    order = dict(VALID["order"], pnl_minor=5)
    assert Decoder().decode(orjson.dumps(dict(order, currency="USD"))).events
    assert not Decoder().decode(orjson.dumps(dict(order, currency="USD\n"))).events
