"""The worker's fleet-wide routes: ``/rollouts``, ``/rollouts/{id}`` and the verdict routes,
all answered from the materialised status table (any worker answers for any rollout).

``unavailable`` is the hook for conditions under which nothing this worker knows may be
trusted (it cannot read the broker, say): it returns a reason, and every answer turns
stale (inconclusive) with that reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import msgspec
import orjson
from aiohttp import web

from monitor.orchestrators.verdict import (
    Handler,
    NotReady,
    Seen,
    Unknown,
    add_verdict_routes,
    reading,
    token_ok,
)
from monitor.status.reader import StatusFollower
from monitor.status.table import Known, StatusTable


@dataclass
class FleetViews:
    """rollout id -> :class:`~monitor.orchestrators.verdict.Seen` /
    :class:`~monitor.orchestrators.verdict.Unknown`, from the table (the ``views`` of
    :func:`monitor.orchestrators.verdict.add_verdict_routes`)."""

    table: StatusTable
    follower: StatusFollower | None = None
    unavailable: Callable[[], str | None] | None = None

    def __call__(self, rollout_id: str) -> Seen | Unknown:
        known = self.table.lookup(rollout_id, time.time())  # edge: ages
        if known is None:
            if self.follower is not None and not self.follower.caught_up:
                raise NotReady("this worker is still loading the fleet's status; ask again")
            return Unknown(self.table.suggest(rollout_id))
        return self.seen(known)

    def seen(self, known: Known) -> Seen:
        reason = known.stale_reason if known.stale else ""
        cut_off = self.unavailable() if self.unavailable is not None else None
        view = msgspec.to_builtins(known.view)
        return Seen(view, known.age_s, cut_off or reason, known.owner)


ROLLOUTS_PATH: Final = "/rollouts"
ROLLOUT_PATH: Final = "/rollouts/{rollout_id:[A-Za-z0-9_.:/@+-]{1,128}}"
"""aiohttp matches a route's whole path: an id outside the name alphabet is a plain 404."""


def add_status_routes(app: web.Application, fleet: FleetViews, token: str | None) -> None:
    """Mount ``/rollouts``, ``/rollouts/{id}`` and the verdict routes over ``fleet``."""
    listing, one = status_handlers(fleet, token)
    app.router.add_get(ROLLOUTS_PATH, listing)
    app.router.add_get(ROLLOUT_PATH, one)
    add_verdict_routes(app, fleet, token=token)


def status_handlers(fleet: FleetViews, token: str | None) -> tuple[Handler, Handler]:
    """The handlers of ``GET /rollouts`` and ``GET /rollouts/{id}`` (mounted by
    :func:`add_status_routes`, and on a faust app's web server by ``monitor.faust``)."""

    async def listing(request: web.Request) -> web.Response:
        if not token_ok(request, token):
            return _json({"error": "missing or wrong token"}, 401)
        rows = []
        for known in fleet.table.all(time.time()):
            seen = fleet.seen(known)
            read = reading(seen.view, stale=bool(seen.stale_reason))
            rows.append(
                {
                    "rollout_id": known.view.rollout_id,
                    "stage": known.view.stage,
                    "traffic_pct": known.view.traffic_pct,
                    "status": known.view.status,
                    "verdict": known.view.verdict,
                    "outcome": read.outcome,
                    "owner": known.owner,
                    "age_s": round(known.age_s, 3),
                    "stale": bool(seen.stale_reason),
                }
            )
        loading = fleet.follower is not None and not fleet.follower.caught_up
        body = {"rollouts": rows, "loading": loading, "rejected": dict(fleet.table.rejected)}
        return _json(body, 200)

    async def one(request: web.Request) -> web.Response:
        if not token_ok(request, token):
            return _json({"error": "missing or wrong token"}, 401)
        rollout_id = request.match_info["rollout_id"]
        try:
            found = fleet(rollout_id)
        except NotReady as exc:
            return _json({"error": str(exc), "rollout_id": rollout_id}, 503)
        if isinstance(found, Unknown):
            body: dict[str, Any] = {
                "error": f"unknown rollout {rollout_id!r}: no worker of this fleet published it",
                "rollout_id": rollout_id,
                "did_you_mean": found.did_you_mean,
            }
            return _json(body, 404)
        extra = {
            "owner": found.owner,
            "age_s": found.age_s,
            "stale": bool(found.stale_reason),
            "stale_reason": found.stale_reason,
        }
        return _json({**found.view, **extra}, 200)

    return listing, one


def _json(body: Any, status: int) -> web.Response:
    return web.Response(
        body=orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS),
        status=status,
        content_type="application/json",
    )
