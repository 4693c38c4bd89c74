"""Verdict HTTP endpoints for Argo Rollouts' Web metric provider and Flagger webhooks.

The worker's HTTP server calls :func:`add_verdict_routes`; every worker answers for every
rollout of the fleet from its materialised status table (``monitor.status``), with the age of
what it knows. The routes only read, but a configured ``token`` is still required
(constant-time compare) so that verdicts are not an open oracle.

How rollguard's state reads at each gate (:func:`reading`; ``docs/orchestrators.md`` has
the table with the reasons and copy-paste YAML for both tools):

* **failed** — rollguard (or a human) decided to stop: rolled back, halted, aborted. Argo:
  Failed (the rollout aborts); Flagger ``rollback``: 200 (roll back now); ``rollout``: 403.
* **held** — rollguard paused, froze, or the stage's time box ran out with no verdict: a
  human should look. Argo: Inconclusive (the rollout pauses); Flagger: ``rollout`` 200 (no
  failed check: rollguard did not decide to stop), ``confirm-traffic-increase`` and
  ``confirm-promotion`` 403 (traffic stays where it is).
* **running** — warming up, rules pending, a rule firing with no stop decided, or all
  healthy: Argo Successful; Flagger ``rollout`` and ``confirm-traffic-increase`` 200;
  ``confirm-promotion`` 200 only when promotable (dwell, samples, healthy rules, sign-offs).
  Warming up and a pending blip are not failures: only a decision is.
* **stale** — the owner has not confirmed the status within the bound (it died, the
  rollout is moving to another worker) or this worker cannot read the status topic:
  inconclusive, never a pass (Argo Inconclusive; Flagger 503, which its webhook client
  retries when ``retries`` is set). A stale *stop* still reads as failed: a decision to
  stop stands whoever owns the rollout.
* **unknown** — no worker ever published the rollout: 404 with the close names it knows;
  503 while this worker is still loading the status topic.

Flagger posts ``{name, namespace, phase, checksum, metadata}``; the rollout id is
``metadata.rollout_id`` when given, else ``name``. In dry-run (advisory) mode no route ever
blocks or triggers anything; the would-be verdict is reported in the body.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple

import orjson
from aiohttp import web

from topics.errors import ConfigError
from topics.limits import json_depth_error
from topics.status import FAILED, HELD, Status

log = logging.getLogger(__name__)

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

HOOKS: Final = ("rollout", "confirm-traffic-increase", "confirm-promotion", "rollback")


class NotReady(Exception):  # noqa: N818  # a state, not an error: "ask again"
    """This worker cannot answer yet (still loading the status topic, or cut off)."""


@dataclass(frozen=True)
class Seen:
    """What a worker knows about one rollout: the owner's view and how current it is."""

    view: Mapping[str, Any]
    age_s: float | None = None
    """Since the owner last confirmed the view (None: the view is this process's own)."""
    stale_reason: str = ""
    """Non-empty: the view is not current (owner silent, rollout moving): inconclusive."""
    owner: str = ""


@dataclass(frozen=True)
class Unknown:
    """No worker has published this rollout; ``did_you_mean`` lists close known ids."""

    did_you_mean: list[str] = field(default_factory=list)


Views = Callable[[str], "Seen | Unknown | Mapping[str, Any] | None"]
"""rollout id -> what is known (a bare mapping: the process's own, current view; None:
unknown); raises :class:`NotReady` when it cannot say."""


class Reading(NamedTuple):
    """How a gate reads a view: the Argo outcome, and what each Flagger hook answers."""

    outcome: Outcome
    promotable: bool
    held: bool = False
    """Held by a decision (paused, frozen, time box over): traffic must not move."""
    stale: bool = False


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


def reading(view: Mapping[str, Any], stale: bool = False) -> Reading:
    """How rollguard's state reads at a gate (see the module doc for the reasons).

    >>> reading({"status": "running", "verdict": "pass", "promotion_gaps": []})
    Reading(outcome='ok', promotable=True, held=False, stale=False)
    >>> reading({"status": "running", "verdict": "inconclusive", "promotion_gaps": ["dwell"]})
    Reading(outcome='ok', promotable=False, held=False, stale=False)
    >>> reading({"status": "running", "verdict": "fail", "firing": ["errors"]}).outcome
    'ok'
    >>> reading({"status": "paused", "verdict": "pass"})
    Reading(outcome='inconclusive', promotable=False, held=True, stale=False)
    >>> reading({"status": "rolled_back", "verdict": "fail"}, stale=True).outcome
    'failed'
    >>> reading({"status": "running", "verdict": "pass", "promotion_gaps": []}, stale=True)
    Reading(outcome='inconclusive', promotable=False, held=False, stale=True)
    """
    status, verdict = _text(view.get("status")), _text(view.get("verdict"))
    if status in FAILED or verdict in FAILING:  # safety first: any stop wins
        return Reading("failed", False)
    if stale:
        return Reading("inconclusive", False, stale=True)
    if status in HELD:
        return Reading("inconclusive", False, held=True)
    if verdict in ACTIONS:  # a view whose verdict is a decision name: that decision
        outcome = classify(verdict)
        return Reading(outcome, verdict == "promote", held=outcome == "inconclusive")
    if status == Status.COMPLETED:
        return Reading("ok", True)
    if status in ("", Status.RUNNING):
        # warming up, pending, healthy, or a rule firing with no stop decided: only a
        # decision stops a rollout; promotion waits until nothing stands in its way
        return Reading("ok", verdict == "pass" and view.get("promotion_gaps") == [])
    return Reading("inconclusive", False, held=True)  # a status this build does not know


def outcome_of(view: Mapping[str, Any]) -> tuple[Outcome, bool]:
    """(outcome, promotable) of a current view (:func:`reading` without staleness)."""
    read = reading(view)
    return read.outcome, read.promotable


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


def verdict_body(
    rollout_id: str,
    view: Mapping[str, Any],
    *,
    age_s: float | None = None,
    stale_reason: str = "",
    owner: str = "",
) -> dict[str, Any]:
    """The JSON answer for one rollout, from the owner's view (bounded, no evidence)."""
    last = _last_decision(view)
    advisory = bool(view.get("advisory") or view.get("dry_run") or last.get("advisory"))
    read = reading(view, stale=bool(stale_reason))
    outcome, promotable = read.outcome, read.promotable
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
        "held": read.held and not advisory,
        "stale": bool(stale_reason),
        "stale_reason": _text(stale_reason),
        "age_s": None if age_s is None else round(age_s, 3),
        "owner": _text(owner),
        "advisory": advisory,
        "stage": _text(view.get("stage")),
        "traffic_pct": _number(view.get("traffic_pct")),
        "firing": _texts(view.get("firing")),
        "pending": _texts(view.get("pending")),
        "promotion_gaps": _texts(view.get("promotion_gaps")),
        "last_action": _text(last.get("action")),
        "reason": _text(last.get("reason")),
        "rule": _text(last.get("rule")),
        "command_id": _text(last.get("command_id")),
        "issued_at": _number(last.get("issued_at")),
    }


def hook_status(hook: str, body: Mapping[str, Any]) -> int:
    """Flagger's answer for ``hook``: 200 go on (for ``rollback``: roll back now), 403 no,
    503 rollguard cannot say now (stale view: never a pass).

    >>> ok = {"ok": True, "failed": False, "promotable": False, "held": False, "stale": False}
    >>> [hook_status(h, ok) for h in HOOKS]
    [200, 200, 403, 403]
    >>> [hook_status(h, {**ok, "ok": False, "held": True}) for h in HOOKS]
    [200, 403, 403, 403]
    >>> [hook_status(h, {**ok, "ok": False, "stale": True}) for h in HOOKS]
    [503, 503, 503, 403]
    >>> [hook_status(h, {**ok, "ok": False, "failed": True}) for h in HOOKS]
    [403, 403, 403, 200]
    """
    if hook == "rollback":
        return 200 if body["failed"] else 403
    if body["failed"]:
        return 403
    if body["stale"]:
        return 503
    passed = {
        "rollout": body["ok"] or body["held"],
        "confirm-traffic-increase": body["ok"],
        "confirm-promotion": body["promotable"],
    }[hook]
    return 200 if passed else 403


Handler = Callable[[web.Request], Awaitable[web.Response]]
VERDICT_PATH: Final = "/verdict/{rollout_id:[A-Za-z0-9_.:/@+-]{1,128}}"
FLAGGER_PATH: Final = f"/flagger/{{hook:{'|'.join(HOOKS)}}}"


def verdict_handlers(views: Views, *, token: str | None = None) -> tuple[Handler, Handler]:
    """The handlers of ``GET /verdict/{rollout_id}`` (Argo) and ``POST /flagger/{hook}``
    (mounted by :func:`add_verdict_routes`, and on a faust app's web server by
    ``monitor.faust``)."""
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
        return _json(body, hook_status(hook, body))

    return argo, flagger


def add_verdict_routes(
    app: web.Application,
    views: Views,
    *,
    token: str | None = None,
) -> None:
    """Mount ``/verdict/{rollout_id}`` and ``/flagger/{hook}`` on ``app``."""
    argo, flagger = verdict_handlers(views, token=token)
    app.router.add_get(VERDICT_PATH, argo)
    app.router.add_post(FLAGGER_PATH, flagger)


def _answer(rollout_id: str, views: Views) -> tuple[web.Response, dict[str, Any] | None]:
    try:
        known = views(rollout_id)
    except NotReady as exc:  # "ask again": never a verdict
        return _json({"error": str(exc), "rollout_id": rollout_id}, 503), None
    except Exception:  # a view bug must not look like a verdict; 503 = "ask again"
        log.exception("verdict: view of rollout %r failed", rollout_id)
        return _json({"error": "rollout view unavailable"}, 503), None
    if known is None or isinstance(known, Unknown):
        body: dict[str, Any] = {
            "error": "unknown rollout: no worker of this fleet has published it",
            "rollout_id": rollout_id,
        }
        if isinstance(known, Unknown) and known.did_you_mean:
            body["did_you_mean"] = known.did_you_mean
        return _json(body, 404), None
    seen = known if isinstance(known, Seen) else Seen(known)
    body = verdict_body(
        rollout_id, seen.view, age_s=seen.age_s, stale_reason=seen.stale_reason, owner=seen.owner
    )
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
