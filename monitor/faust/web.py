"""rollguard's HTTP routes on the faust app's own web server.

The handlers are the native worker's (``monitor.worker.http``, ``monitor.status.routes``,
``monitor.orchestrators.verdict``), mounted as faust views with ``App.page``. The rollout and
verdict routes answer from the fleet's status table (``monitor.faust.fleet``), so any worker answers
for any rollout, the ones it holds and the ones other workers (faust or native) hold, with
the age of what it knows: no request is forwarded between workers.

faust serves these in the app's event loop, where the core lives; ``web_in_thread`` (a
separate thread and loop) is refused by :func:`monitor.faust.install` for that reason.
"""

from __future__ import annotations

from typing import Any

import faust

from monitor.orchestrators.verdict import Handler


def mount(app: faust.App, path: str, method: str, handler: Handler, name: str) -> None:
    """Serve ``handler`` (an aiohttp handler) at ``path`` through the app's web server."""

    async def call(view: faust.web.View, request: Any, **_: Any) -> Any:
        return await handler(request)

    app.page(path, name=name)(type(name, (faust.web.View,), {method: call}))


__all__ = ["mount"]
