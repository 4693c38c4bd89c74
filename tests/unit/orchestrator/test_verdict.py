"""The verdict endpoint, driven over real HTTP the way Argo Rollouts and Flagger call it.

Shapes are taken from the tools' own sources, not from our docs:

* Argo Rollouts Web metric provider — argoproj/argo-rollouts ``docs/analysis/web.md``
  (https://argo-rollouts.readthedocs.io/en/stable/analysis/web/) and
  ``metricproviders/webmetric/webmetric.go``: GET with the configured ``headers``; a non-2xx
  status is a measurement *Error*; the JSON body is parsed, ``jsonPath`` (default ``{$}``)
  selects ``result``; ``utils/evaluate/evaluate.go``: ``failureCondition`` true → Failed,
  else ``successCondition`` true → Successful, else Inconclusive.
* Flagger webhooks — fluxcd/flagger ``docs/gitbook/usage/webhooks.md``
  (https://docs.flagger.app/usage/webhooks) and ``pkg/apis/flagger/v1beta1/canary.go``
  (``CanaryWebhookPayload``: name, namespace, phase, checksum, metadata map[string]string):
  HTTP POST; ``confirm-promotion`` "paused until the hooks return HTTP 200"; ``rollout``
  "non-2xx - halt advancement"; ``rollback`` "If a rollback hook returns a successful HTTP
  status code, Flagger will stop the analysis and mark the canary release as failed".

The Argo and Flagger YAML is read from ``docs/orchestrators.md``, so the copy-paste examples
are the ones under test.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.unit.orchestrator.conftest import TOKEN, VerdictServer

DOCS = Path(__file__).resolve().parents[3] / "docs" / "orchestrators.md"

# Views shaped like ``monitor.core.Core.view``: status, verdict (pass/fail/inconclusive),
# promotion_gaps; and the expected answer of each tool: Argo's measurement phase, and
# whether Flagger's rollout / confirm-traffic-increase / confirm-promotion / rollback hooks
# get a 2xx. Only a decision stops: warming up, pending and firing-before-deciding go on.
CASES: dict[str, tuple[dict[str, Any], str, tuple[bool, bool, bool, bool]]] = {
    "promotable": (
        {"status": "running", "verdict": "pass", "promotion_gaps": []},
        "Successful", (True, True, True, False),
    ),
    "healthy, sign-off missing": (
        {"status": "running", "verdict": "pass", "promotion_gaps": ["sign-off cto"]},
        "Successful", (True, True, False, False),
    ),
    "rule firing, no decision yet": (
        {"status": "running", "verdict": "fail", "firing": ["errors"]},
        "Successful", (True, True, False, False),
    ),
    "warming up": (
        {"status": "running", "verdict": "inconclusive", "promotion_gaps": ["samples 3/100"]},
        "Successful", (True, True, False, False),
    ),
    "paused": (
        {"status": "paused", "verdict": "pass"}, "Inconclusive", (True, False, False, False)
    ),
    "frozen": (
        {"status": "frozen", "verdict": "fail"}, "Inconclusive", (True, False, False, False)
    ),
    "time box over": (
        {"status": "inconclusive", "verdict": "inconclusive"},
        "Inconclusive", (True, False, False, False),
    ),
    "rolled back": (
        {"status": "rolled_back", "verdict": "fail"}, "Failed", (False, False, False, True)
    ),
    "halted": ({"status": "halted", "verdict": "fail"}, "Failed", (False, False, False, True)),
    "killed by a human": (
        {"status": "aborted", "verdict": "pass"}, "Failed", (False, False, False, True)
    ),
    "completed": (
        {"status": "completed", "verdict": "pass"}, "Successful", (True, True, True, False)
    ),
    "unknown status": (
        {"status": "martian", "verdict": "pass"}, "Inconclusive", (True, False, False, False)
    ),
    "decision name": ({"verdict": "rollback"}, "Failed", (False, False, False, True)),
}  # fmt: skip
HOOKS = ("rollout", "confirm-traffic-increase", "confirm-promotion", "rollback")


def _doc_yaml_blocks() -> list[Any]:
    text = DOCS.read_text()
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]


def _analysis_metric() -> dict[str, Any]:
    for block in _doc_yaml_blocks():
        if isinstance(block, dict) and block.get("kind") == "AnalysisTemplate":
            metric: dict[str, Any] = block["spec"]["metrics"][0]
            return metric
    raise AssertionError("docs/orchestrators.md has no AnalysisTemplate")


def _flagger_webhooks() -> list[dict[str, Any]]:
    for block in _doc_yaml_blocks():
        if isinstance(block, dict) and "analysis" in block:
            hooks: list[dict[str, Any]] = block["analysis"]["webhooks"]
            return hooks
    raise AssertionError("docs/orchestrators.md has no Flagger webhooks")


class _Obj(dict[str, Any]):
    """``result.ok`` attribute access for evaluating Argo's expr-lang conditions."""

    def __getattr__(self, name: str) -> Any:
        value = self[name]
        return _Obj(value) if isinstance(value, dict) else value


def _expr(condition: str, result: Any) -> bool:
    # The conditions we document use only: result.<field>, ==, true/false, &&, ||.
    assert re.fullmatch(r"[\w.\s=&|!\"]+", condition), condition
    py = condition.replace("&&", " and ").replace("||", " or ")
    py = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", py))
    return bool(eval(py, {"__builtins__": {}}, {"result": result}))


def _json_path(path: str, body: Any) -> Any:
    match = re.fullmatch(r"\{\$((?:\.\w+)*)\}", path)
    assert match, f"unsupported jsonPath in docs: {path}"
    for key in filter(None, match.group(1).split(".")):
        body = body[key]
    return body


def argo_measure(base_url: str, rollout_id: str, token: str = TOKEN) -> str:
    """One Argo Rollouts web measurement with the documented AnalysisTemplate."""
    metric = _analysis_metric()
    web = metric["provider"]["web"]
    args = {"rollout-id": rollout_id, "rollguard-token": token}

    def sub(text: str) -> str:
        return re.sub(r"\{\{\s*args\.([\w-]+)\s*\}\}", lambda m: args[m.group(1)], text)

    url = sub(web["url"]).replace("http://rollguard-worker.rollguard.svc:8080", base_url)
    headers = {h["key"]: sub(h["value"]) for h in web.get("headers", [])}
    response = httpx.get(url, headers=headers, timeout=web.get("timeoutSeconds", 10))
    if not 200 <= response.status_code < 300:
        return "Error"
    result = _json_path(web.get("jsonPath", "{$}"), response.json())
    if isinstance(result, dict):
        result = _Obj(result)
    if _expr(metric["failureCondition"], result):
        return "Failed"
    if _expr(metric["successCondition"], result):
        return "Successful"
    return "Inconclusive"


def flagger_call(base_url: str, hook_type: str, name: str = "podinfo") -> httpx.Response:
    """POST the CanaryWebhookPayload of the documented hook of ``hook_type``."""
    hook = next(h for h in _flagger_webhooks() if h["type"] == hook_type)
    url = hook["url"].replace("http://rollguard-worker.rollguard.svc:8080", base_url)
    metadata = {k: (TOKEN if k == "token" else v) for k, v in hook["metadata"].items()}
    payload = {
        "name": name,
        "namespace": "test",
        "phase": "Progressing",
        "checksum": "6d4b9c7f",
        "metadata": metadata,
    }
    return httpx.post(url, json=payload, timeout=5)


@pytest.mark.parametrize("case", sorted(CASES))
def test_argo_measurement_follows_the_core(token_server: VerdictServer, case: str) -> None:
    view, expected, _ = CASES[case]
    token_server.views["payments-router"] = view
    assert argo_measure(token_server.base_url, "payments-router") == expected


def test_argo_body_carries_the_documented_fields(token_server: VerdictServer) -> None:
    token_server.views["r-body"] = {
        "stage": "canary-5",
        "status": "rolled_back",
        "verdict": "fail",
        "promotion_gaps": [],
        "traffic_pct": 5,
        "firing": ["p99_latency_vs_baseline"],
        "last_decisions": [
            {"action": "rollback", "reason": "p99 1.6x", "command_id": "c" * 32, "rule": "p99"}
        ],
    }
    response = httpx.get(
        f"{token_server.base_url}/verdict/r-body", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["ok"] is False and body["failed"] is True and body["outcome"] == "failed"
    assert body["traffic_pct"] == 5.0 and body["firing"] == ["p99_latency_vs_baseline"]
    assert body["reason"] == "p99 1.6x" and body["command_id"] == "c" * 32


def test_argo_unknown_rollout_wrong_token_and_broken_view_are_errors(
    token_server: VerdictServer,
) -> None:
    token_server.views["known"] = {"status": "running", "verdict": "pass"}
    token_server.broken.add("broken")
    assert argo_measure(token_server.base_url, "never-seen") == "Error"
    assert argo_measure(token_server.base_url, "known", token="wrong-token-000000") == "Error"
    assert argo_measure(token_server.base_url, "broken") == "Error"
    assert httpx.get(f"{token_server.base_url}/verdict/known").status_code == 401
    assert httpx.get(f"{token_server.base_url}/verdict/broken").status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.get(f"{token_server.base_url}/verdict/broken", headers=auth).status_code == 503


def test_rollout_ids_with_slashes_and_dry_run(open_server: VerdictServer) -> None:
    open_server.views["ns/payments"] = {"status": "halted", "verdict": "fail", "dry_run": True}
    body = httpx.get(f"{open_server.base_url}/verdict/ns/payments").json()
    assert body["status"] == "halted" and body["advisory"] is True
    assert body["ok"] is True and body["failed"] is False  # dry-run never blocks


# Flagger: 2xx means "go on" for rollout/confirm-promotion and "roll back now" for rollback.
@pytest.mark.parametrize("hook_type", HOOKS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_flagger_hooks_answer_by_flagger_semantics(
    token_server: VerdictServer, hook_type: str, case: str
) -> None:
    view, _, passes = CASES[case]
    token_server.views["payments-router"] = view
    response = flagger_call(token_server.base_url, hook_type)
    assert (200 <= response.status_code < 300) is passes[HOOKS.index(hook_type)]
    if not passes[HOOKS.index(hook_type)]:
        assert response.status_code == 403
    assert response.json()["rollout_id"] == "payments-router"


@pytest.mark.parametrize("hook_type", HOOKS)
def test_flagger_unknown_rollout_never_passes(token_server: VerdictServer, hook_type: str) -> None:
    hook = next(h for h in _flagger_webhooks() if h["type"] == hook_type)
    url = hook["url"].replace("http://rollguard-worker.rollguard.svc:8080", token_server.base_url)
    payload = {"name": "unknown-canary", "namespace": "t", "metadata": {"token": TOKEN}}
    assert httpx.post(url, json=payload).status_code == 404


def test_flagger_rollout_id_falls_back_to_the_canary_name(open_server: VerdictServer) -> None:
    open_server.views["podinfo"] = {"status": "rolled_back", "verdict": "fail"}
    payload = {"name": "podinfo", "namespace": "test", "phase": "Progressing"}
    assert httpx.post(f"{open_server.base_url}/flagger/rollback", json=payload).status_code == 200


def test_flagger_token_is_required_when_configured(token_server: VerdictServer) -> None:
    token_server.views["r-tok"] = {"status": "halted", "verdict": "fail"}
    url = f"{token_server.base_url}/flagger/rollback"
    payload: dict[str, Any] = {"name": "r-tok", "namespace": "t"}
    assert httpx.post(url, json=payload).status_code == 401
    payload["metadata"] = {"token": "not-the-token-000"}
    assert httpx.post(url, json=payload).status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.post(url, json=payload, headers=auth).status_code == 200
    payload["metadata"] = {"token": TOKEN}
    assert httpx.post(url, json=payload).status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b"[1,2]", 400),
        (b'{"namespace": "t"}', 400),
        (b'{"name": "r1", "metadata": {"n": 1}}', 400),
        (b'{"name": "bad id with spaces"}', 400),
        (b'{"name": "r1", "pad": "' + b"x" * 70_000 + b'"}', 413),
    ],
)
def test_flagger_bad_payloads_are_refused(
    open_server: VerdictServer, body: bytes, status: int
) -> None:
    response = httpx.post(f"{open_server.base_url}/flagger/rollout", content=body)
    assert response.status_code == status
    assert "error" in response.json()


def test_oversized_chunked_body_is_refused(open_server: VerdictServer) -> None:
    def chunks() -> Any:
        for _ in range(100):
            yield b"x" * 1024

    response = httpx.post(f"{open_server.base_url}/flagger/rollout", content=chunks())
    assert response.status_code == 413


def test_an_empty_token_is_refused_at_mount() -> None:
    from aiohttp import web

    from monitor.orchestrators.verdict import add_verdict_routes
    from topics.errors import ConfigError

    with pytest.raises(ConfigError, match="empty"):
        add_verdict_routes(web.Application(), lambda _: None, token=" ")
