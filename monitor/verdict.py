"""Verdict HTTP endpoints for Argo Rollouts' Web metric provider and Flagger webhooks.

The worker's HTTP server calls :func:`add_verdict_routes`; the routes answer from the
core's rollout views (``CoreProtocol.view``). They only read: nothing here changes a
rollout, so there is nothing to forge, but a configured ``token`` is still required
(constant-time compare) so that verdicts are not an open oracle.

Routes (``docs/orchestrators.md`` has copy-paste YAML for both tools):

``GET /verdict/{rollout_id}``
    For Argo Rollouts' ``provider.web``: always 200 with a JSON body for a known rollout
    (Argo reads it with ``jsonPath`` and ``successCondition``/``failureCondition``; any
    non-2xx is a measurement *error* there, not a failure), 404 for an unknown one.
``POST /flagger/confirm-promotion``
    Flagger's promotion gate: 200 only when nothing stands between the stage and promotion
    (dwell, samples, healthy rules, sign-offs), 403 otherwise: Flagger keeps it paused.
``POST /flagger/rollback``
    Flagger's rollback hook: 200 means *roll back now* (Flagger fails the canary), so it
    answers 200 only when the rollout was rolled back, halted or aborted; 403 otherwise.
``POST /flagger/rollout``
    Flagger's per-iteration analysis hook: 200 while healthy, 403 while failing or held
    (Flagger halts advancement and counts a failed check).

How a view reads (:func:`outcome_of`): a stopped rollout fails, a held one is inconclusive,
a running one passes only on verdict ``pass``.

Flagger posts ``{name, namespace, phase, checksum, metadata}``; the rollout id is
``metadata.rollout_id`` when given, else ``name``. Unknown rollouts get 404: no promotion
and no rollback for something rollguard has never seen. In dry-run (advisory) mode no
route ever blocks or triggers anything; the would-be verdict is reported in the body.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

import orjson
from aiohttp import web

from monitor.errors import ConfigError
from topics.limits import json_depth_error

log = logging.getLogger(__name__)

Views = Callable[[str], dict[str, Any] | None]
Outcome = Literal["ok", "failed", "inconclusive"]

MAX_BODY_BYTES: Final = 64 * 1024
"""Flagger's payload is a few hundred bytes; anything much larger is not Flagger."""
MAX_LIST_ITEMS: Final = 50
MAX_TEXT_CHARS: Final = 512

ROLLOUT_ID_RE: Final = re.compile(r"[A-Za-z0-9_.:/@+-]{1,128}")
"""The same alphabet as ``topics.events.Name``; use with ``fullmatch`` (``$`` would let a
trailing newline through)."""

PASSING: Final = frozenset({"proceed", "promote", "resume"})
FAILING: Final = frozenset({"halt", "rollback"})
# freeze, pause, reduce_scope, hold and anything unknown: inconclusive (Argo pauses).
ACTIONS: Final = PASSING | FAILING | {"freeze", "pause", "reduce_scope", "hold"}

FAILED_STATUSES: Final = frozenset({"halted", "rolled_back", "aborted"})
HELD_STATUSES: Final = frozenset({"paused", "frozen", "inconclusive"})
"""The core's ``status`` after its own (or a human's) decisions: authoritative when set."""


def classify(verdict: str) -> Outcome:
    """How a gate reads a decision (action) name.

    >>> classify("promote"), classify("rollback"), classify("pause"), classify("bogus")
    ('ok', 'failed', 'inconclusive', 'inconclusive')
    """
    if verdict in PASSING:
        return "ok"
    if verdict in FAILING:
        return "failed"
    return "inconclusive"


def outcome_of(view: Mapping[str, Any]) -> tuple[Outcome, bool]:
    """(outcome, promotable) from the core's view.

    The core reports ``status`` (running, paused, frozen, inconclusive, halted, rolled_back,
    aborted, completed), ``verdict`` (pass, fail, inconclusive) and ``promotion_gaps`` (what
    still stands between the stage and promotion: dwell, samples, unhealthy rules, missing
    sign-offs). A stopped rollout fails, a held one is inconclusive; a running one passes
    only on ``pass`` and is promotable only with no gaps left. A ``verdict`` that is an
    action name (``promote``, ``rollback``, ...) is read as that decision.

    >>> outcome_of({"status": "running", "verdict": "pass", "promotion_gaps": []})
    ('ok', True)
    >>> outcome_of({"status": "running", "verdict": "pass", "promotion_gaps": ["sign-off cto"]})
    ('ok', False)
    >>> outcome_of({"status": "running", "verdict": "fail"})
    ('inconclusive', False)
    >>> outcome_of({"status": "rolled_back", "verdict": "fail"})
    ('failed', False)
    >>> outcome_of({"status": "paused", "verdict": "promote"})
    ('inconclusive', False)
    """
    status, verdict = _text(view.get("status")), _text(view.get("verdict"))
    if status in FAILED_STATUSES or verdict in FAILING:  # safety first: any stop wins
        return "failed", False
    if status in HELD_STATUSES:
        return "inconclusive", False
    if verdict in ACTIONS:
        return classify(verdict), verdict == "promote"
    if status == "completed":
        return "ok", True
    if verdict == "pass" and status in ("", "running"):
        return "ok", view.get("promotion_gaps") == []
    # a firing rule with no decision yet, no verdict, or a status this build does not know
    return "inconclusive", False


def token_ok(request: web.Request, token: str | None, body_token: object = None) -> bool:
    """True when no token is configured, or the request carries it.

    The token comes as ``Authorization: Bearer <token>`` (Argo's ``headers``) or, for
    Flagger whose webhooks cannot set headers, as ``metadata.token`` in the body.
    """
    if token is None:
        return True
    expected = token.encode()
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected):
        return True
    return isinstance(body_token, str) and hmac.compare_digest(body_token.encode(), expected)


def verdict_body(rollout_id: str, view: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON answer for one rollout, from the core's view (bounded, no evidence)."""
    last = _last_decision(view)
    advisory = bool(view.get("advisory") or view.get("dry_run") or last.get("advisory"))
    outcome, promotable = outcome_of(view)
    if advisory:  # dry run: report, never block or trigger
        outcome, promotable = "ok", True
    return {
        "rollout_id": rollout_id,
        "verdict": _text(view.get("verdict")),
        "status": _text(view.get("status")),
        "outcome": outcome,
        "ok": outcome == "ok",
        "failed": outcome == "failed",
        "promotable": promotable,
        "advisory": advisory,
        "stage": _text(view.get("stage")),
        "traffic_pct": _number(view.get("traffic_pct")),
        "firing": _texts(view.get("firing")),
        "promotion_gaps": _texts(view.get("promotion_gaps")),
        "last_action": _text(last.get("action")),
        "reason": _text(last.get("reason")),
        "rule": _text(last.get("rule")),
        "command_id": _text(last.get("command_id")),
        "issued_at": _number(last.get("issued_at")),
    }


def add_verdict_routes(
    app: web.Application,
    views: Callable[[str], dict[str, Any] | None],
    *,
    token: str | None = None,
) -> None:
    """Mount ``/verdict/{rollout_id}`` and ``/flagger/{hook}`` on ``app``."""
    if token is not None and not token.strip():
        raise ConfigError("verdict token is empty: it would let anyone in (unset it, or set one)")

    async def argo(request: web.Request) -> web.Response:
        if not token_ok(request, token):
            return _json({"error": "missing or wrong token"}, 401)
        return _answer(request.match_info["rollout_id"], views)[0]

    async def flagger(request: web.Request) -> web.Response:
        hook = request.match_info["hook"]
        payload = await _read_flagger_payload(request)
        if isinstance(payload, web.Response):
            return payload
        metadata = payload.get("metadata") or {}
        if not token_ok(request, token, metadata.get("token")):
            return _json({"error": "missing or wrong token"}, 401)
        rollout_id = metadata.get("rollout_id") or payload["name"]
        if not isinstance(rollout_id, str) or not ROLLOUT_ID_RE.fullmatch(rollout_id):
            return _json({"error": "rollout id not in [A-Za-z0-9_.:/@+-]{1,128}"}, 400)
        response, body = _answer(rollout_id, views)
        if body is None:
            return response
        passed = {
            "confirm-promotion": body["promotable"],
            "rollback": body["failed"],
            "rollout": body["ok"],
        }[hook]
        return _json(body, 200 if passed else 403)

    rollout_id_pattern = "{rollout_id:[A-Za-z0-9_.:/@+-]{1,128}}"
    app.router.add_get(f"/verdict/{rollout_id_pattern}", argo)
    app.router.add_post("/flagger/{hook:confirm-promotion|rollback|rollout}", flagger)


def _answer(rollout_id: str, views: Views) -> tuple[web.Response, dict[str, Any] | None]:
    try:
        view = views(rollout_id)
    except Exception:  # a view bug must not look like a verdict; 503 = "ask again"
        log.exception("verdict: view of rollout %r failed", rollout_id)
        return _json({"error": "rollout view unavailable"}, 503), None
    if view is None:
        return _json({"error": "unknown rollout", "rollout_id": rollout_id}, 404), None
    body = verdict_body(rollout_id, view)
    return _json(body, 200), body


async def _read_flagger_payload(request: web.Request) -> dict[str, Any] | web.Response:
    """Flagger's ``{name, namespace, phase, checksum, metadata}``, validated and bounded."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return _json({"error": f"body larger than {MAX_BODY_BYTES} bytes"}, 413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(16 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return _json({"error": f"body larger than {MAX_BODY_BYTES} bytes"}, 413)
        chunks.append(chunk)
    body = b"".join(chunks)
    shape = json_depth_error(body)  # before parsing, as for every untrusted JSON
    if shape is not None:
        return _json({"error": shape}, 400)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _json({"error": "body is not JSON"}, 400)
    if not isinstance(payload, dict) or not isinstance(payload.get("name"), str):
        return _json({"error": "expected a Flagger webhook payload with a string `name`"}, 400)
    metadata = payload.get("metadata")
    if metadata is not None and (
        not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values())
    ):
        return _json({"error": "`metadata` must map strings to strings"}, 400)
    return payload


def _last_decision(view: Mapping[str, Any]) -> Mapping[str, Any]:
    decisions = view.get("last_decisions")
    if isinstance(decisions, list) and decisions and isinstance(decisions[-1], Mapping):
        return decisions[-1]
    return {}


def _texts(value: object) -> list[str]:
    return [_text(v) for v in value[:MAX_LIST_ITEMS]] if isinstance(value, list) else []


def _text(value: object) -> str:
    return value[:MAX_TEXT_CHARS] if isinstance(value, str) else ""


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _json(body: Mapping[str, Any], status: int) -> web.Response:
    return web.Response(
        body=orjson.dumps(body),
        status=status,
        content_type="application/json",
    )
