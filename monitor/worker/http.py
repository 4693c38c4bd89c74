"""The worker's HTTP surface: ``/metrics``, ``/healthz``, ``/rollouts``, ``/rollouts/{id}``,
verdict routes (answered for the whole fleet from ``fleet``, the materialised status topic;
without it, from this process's own core only).

A small aiohttp server of our own inside the worker: faust's web layer is tied to a running
faust App, which this worker does not run (see ``monitor.worker.app``). The same handlers are served
through a faust app's own web server by the faust adapter (``monitor.faust.web``).
Default bind is 127.0.0.1: the views carry evidence, expose them wider on purpose only.
With a token configured, ``/rollouts/{id}`` and the verdict routes require it; ``/metrics``
and ``/healthz`` stay open for Prometheus and supervisors (they carry no evidence).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from monitor.core.api import CoreProtocol
from monitor.orchestrators.verdict import Handler, add_verdict_routes, token_ok
from monitor.status.routes import FleetViews, add_status_routes
from monitor.worker.metrics import WorkerMetrics

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def build_web_app(
    core: CoreProtocol,
    metrics: WorkerMetrics,
    health: Callable[[], dict[str, Any]],
    token: str | None = None,
    fleet: FleetViews | None = None,
) -> web.Application:
    app = web.Application()

    async def rollout(request: web.Request) -> web.Response:
        if not token_ok(request, token):
            return web.json_response({"error": "missing or wrong token"}, status=401)
        rollout_id = request.match_info["rollout_id"]  # a valid name: the route's pattern
        view = core.view(rollout_id)
        if view is None:
            return web.json_response({"error": f"unknown rollout {rollout_id!r}"}, status=404)
        return web.json_response(view, dumps=_dumps)

    app.router.add_get("/metrics", metrics_handler(metrics))
    app.router.add_get("/healthz", health_handler(health))
    if fleet is not None:
        add_status_routes(app, fleet, token)
        return app
    # aiohttp matches a route's whole path: an id outside the name alphabet is a plain 404
    app.router.add_get("/rollouts/{rollout_id:[A-Za-z0-9_.:/@+-]{1,128}}", rollout)
    add_verdict_routes(app, core.view, token=token)
    return app


def metrics_handler(metrics: WorkerMetrics) -> Handler:
    async def metrics_view(_: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": PROMETHEUS_TEXT})

    return metrics_view


def health_handler(health: Callable[[], dict[str, Any]]) -> Handler:
    async def healthz(_: web.Request) -> web.Response:
        report = health()
        return web.json_response(report, status=200 if report.get("ok") else 503)

    return healthz


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode()
