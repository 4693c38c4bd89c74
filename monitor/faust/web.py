"""rollguard's HTTP routes on the faust app's own web server.

The handlers are the native worker's (``monitor.worker.http``, ``monitor.verdict``), mounted
as faust views with ``App.page``. The read routes of one rollout, ``/rollouts/{id}`` and
``/verdict/{id}``, go through ``App.table_route`` on the state table: any worker answers for
any rollout, faust forwarding the request to the worker that holds the rollout's partition
(``faust/app/router.py``: ``Router.route_req``) or answering itself (``SameNode``). faust's
forwarding carries no request body, so the Flagger hooks (the rollout id is in the POSTed
payload) are forwarded by :func:`flagger_elsewhere` instead, once per request.

faust serves these in the app's event loop, where the core lives; ``web_in_thread`` (a
separate thread and loop) is refused by :func:`monitor.faust.install` for that reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

import faust
import orjson
from aiohttp import web
from yarl import URL

from monitor.verdict import FLAGGER_PATH, VERDICT_PATH, Elsewhere
from monitor.worker.http import ROLLOUT_PATH

Handler = Callable[[web.Request], Awaitable[web.Response]]
FORWARDED: Final = "X-Rollguard-Forwarded"
"""Set on a request one worker forwards to another: the receiver answers it itself."""


def mount(app: faust.App, path: str, method: str, handler: Handler, name: str) -> None:
    """Serve ``handler`` (an aiohttp handler) at ``path`` through the app's web server."""

    async def call(view: faust.web.View, request: Any, **_: Any) -> Any:
        return await handler(request)

    app.page(path, name=name)(type(name, (faust.web.View,), {method: call}))


def mount_routed(app: faust.App, table: Any, path: str, handler: Handler, name: str) -> None:
    """A GET route of one rollout, answered by the worker that holds it."""

    async def call(view: faust.web.View, request: Any, **_: Any) -> Any:
        return await handler(request)

    routed = app.table_route(table, match_info="rollout_id")(call)
    app.page(path, name=name)(type(name, (faust.web.View,), {"get": routed}))


def flagger_elsewhere(app: faust.App, table: Any) -> Elsewhere:
    """The Flagger hook's answer from the worker holding the rollout, when that is not
    this one (None: answer here, also while the assignment is not known)."""

    async def elsewhere(
        rollout_id: str, payload: dict[str, Any], request: web.Request
    ) -> web.Response | None:
        if request.headers.get(FORWARDED):
            return None
        try:
            owner = URL(app.router.key_store(table.name, rollout_id.encode()))
        except KeyError:
            return None
        here = URL(str(app.conf.canonical_url))
        if (owner.host, owner.port) == (here.host, here.port):
            return None
        headers = {k: v for k, v in request.headers.items() if k.lower() == "authorization"}
        headers[FORWARDED] = "1"
        target = owner.with_path(request.path)
        async with app.http_client.post(
            target, data=orjson.dumps(payload), headers=headers
        ) as response:
            return web.Response(
                body=await response.read(),
                status=response.status,
                content_type=response.content_type,
            )

    return elsewhere


__all__ = ["FLAGGER_PATH", "ROLLOUT_PATH", "VERDICT_PATH", "flagger_elsewhere", "mount"]
