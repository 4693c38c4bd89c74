"""Fuzz the verdict routes over real HTTP: no crash (5xx), always a JSON answer, and no
gate ever opens for input that is not a well-formed request about a known rollout."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.orchestrators.verdict import FAILING, verdict_body
from tests.unit.orchestrator.conftest import TOKEN, VerdictServer
from topics.status import FAILED

FUZZ = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
view_keys = st.sampled_from(
    ["verdict", "status", "promotion_gaps", "stage", "traffic_pct", "firing", "last_decisions",
     "advisory", "dry_run", "x"]
)  # fmt: skip
known_words = st.sampled_from(
    ["pass", "fail", "inconclusive", "running", "completed", "promote", *FAILING, *FAILED]
)
views = st.dictionaries(view_keys, json_values | known_words | st.just([]), max_size=7)


@FUZZ
@given(view=views)
def test_any_core_view_gives_a_bounded_consistent_body(view: dict[str, Any]) -> None:
    body = verdict_body("r1", view)
    orjson.dumps(body)  # serialisable
    assert body["ok"] + body["failed"] <= 1
    status, verdict = (
        v if isinstance(v, str) else "" for v in (view.get("status"), view.get("verdict"))
    )
    stopped = status in FAILED or verdict in FAILING
    if body["failed"]:
        assert stopped and not body["advisory"]
    if body["promotable"]:
        assert body["advisory"] or not stopped
        assert (
            body["advisory"]
            or verdict == "promote"
            or status == "completed"
            or view.get("promotion_gaps") == []
        )


@FUZZ
@given(
    path=st.just("known") | st.text(min_size=0, max_size=200),
    auth=st.none()
    | st.just(f"Bearer {TOKEN}")
    | st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60).filter(
        lambda s: s == s.strip()
    ),
)
def test_fuzzed_verdict_paths(
    token_server: VerdictServer, http: httpx.Client, path: str, auth: str | None
) -> None:
    token_server.views["known"] = {"verdict": "promote"}
    headers = {"Authorization": auth} if auth is not None else {}
    url = f"{token_server.base_url}/verdict/{quote(path, safe='/:@+')}"
    response = http.get(url, headers=headers)
    assert response.status_code < 500 or response.status_code == 503
    if response.status_code == 200:
        assert headers.get("Authorization") == f"Bearer {TOKEN}"


payload_objects = st.fixed_dictionaries(
    {},
    optional={
        "name": json_values | st.sampled_from(["known", "nope"]),
        "namespace": json_values,
        "phase": json_values,
        "checksum": json_values,
        "metadata": json_values
        | st.dictionaries(
            st.sampled_from(["rollout_id", "token", "x"]),
            json_values | st.sampled_from(["known", TOKEN]),
            max_size=3,
        ),
    },
)
bodies = st.binary(max_size=300) | payload_objects.map(lambda p: json.dumps(p).encode())


@FUZZ
@given(
    hook=st.sampled_from(["rollout", "confirm-promotion", "rollback"]),
    body=bodies,
)
def test_fuzzed_flagger_payloads(
    token_server: VerdictServer, http: httpx.Client, hook: str, body: bytes
) -> None:
    token_server.views["known"] = {"verdict": "promote"}
    response = http.post(f"{token_server.base_url}/flagger/{hook}", content=body)
    assert response.status_code in {200, 400, 401, 403, 404, 413}
    response.json()
    if response.status_code == 200:
        payload = json.loads(body)
        metadata = payload.get("metadata") or {}
        assert metadata.get("token") == TOKEN
        assert (metadata.get("rollout_id") or payload["name"]) == "known"
        assert hook != "rollback"  # "promote" never triggers a rollback


def test_a_deeply_nested_body_is_refused_before_parsing(
    token_server: VerdictServer, http: httpx.Client
) -> None:
    body = b'{"name":"known","metadata":' + b"[" * 5_000 + b"]" * 5_000 + b"}"
    response = http.post(f"{token_server.base_url}/flagger/rollout", content=body)
    assert response.status_code == 400
    assert response.json() == {"error": "JSON nested deeper than 32 levels"}
