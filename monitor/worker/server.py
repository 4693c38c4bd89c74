"""Serve the worker's HTTP app within fixed bounds, whatever its clients do.

Found by trying: 1,100 idle connections exhausted a 1,024 file-handle limit, ``/healthz``
timed out (so a supervisor would have killed a healthy worker, or, worse, a probe that
tolerates timeouts would have kept a stuck one), and asyncio logged every failed ``accept``
(160 MB of log in 40 s). So:

- connections are capped (:class:`~monitor.worker.limits.HttpLimits` ``max_connections``,
  and never more than the file-handle limit leaves room for): at the cap, a new connection
  closes the oldest one with no request in progress, so a probe always gets in;
- a connection with no request in progress is closed after ``idle_timeout_s``, also one
  that never finishes its first request's headers (aiohttp's keep-alive timer, which runs
  from the connection's start);
- reading a request's body and answering it must fit in ``request_timeout_s`` (408);
- a view that fails answers 503 (ask again), logged once a minute at most, never 500 with a
  traceback per request;
- request and header lines are bounded (aiohttp's parser limits);
- the soft limit on open files is raised to the hard one at start (as Go's runtime does).
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from monitor.worker.limits import HttpLimits
from monitor.worker.metrics import WorkerMetrics

log = logging.getLogger(__name__)

FILES_KEPT_FREE = 128
"""File handles left for what the worker opens later (Kafka reconnects, checkpoints, logs)."""
ACCEPT_BACKLOG = 128
"""asyncio accepts up to this many connections in one go, before any of them meets the cap."""
KERNEL_BACKLOG = 4096
"""Handshakes the kernel queues for us (capped by net.core.somaxconn). A full queue drops a
new connection's SYN and its client waits the 1 s retransmit: a flood then made one /healthz
take 1.03 s in CI (the listen queue overflowed at asyncio's 128)."""


def raise_open_files_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit; the new soft one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:  # not allowed here: keep the soft limit
            log.warning("http: open-files limit stays %d (%r)", soft, exc)
    return int(soft) if soft != resource.RLIM_INFINITY else 1 << 20


def open_files_now() -> int:
    """File handles this process holds now (Linux; 0 where /proc is not there)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


class _Connections:
    """Which connections are open, oldest first, and which have a request in progress."""

    def __init__(self, cap: int, metrics: WorkerMetrics | None) -> None:
        self.server: Callable[[], RequestHandler] | None = None  # the runner's, once set up
        self.cap = cap
        self._metrics = metrics
        self._open: dict[RequestHandler, None] = {}  # insertion order: oldest first
        self.busy: set[Any] = set()
        self._connecting: set[RequestHandler] = set()

    def __call__(self) -> RequestHandler:
        """A protocol for a connection just accepted (asyncio's protocol factory)."""
        live = [h for h in self._open if self._open_now(h)]
        self._open = dict.fromkeys(live)
        if len(live) >= self.cap:
            idle = next((h for h in live if h.transport is not None and h not in self.busy), None)
            if idle is not None:
                idle.force_close()
                del self._open[idle]
                if self._metrics is not None:
                    self._metrics.http_closed.labels("over_max_connections").inc()
        assert self.server is not None
        handler = self.server()
        self._open[handler] = None
        self._connecting.add(handler)
        return handler

    def _open_now(self, handler: RequestHandler) -> bool:
        """Connected and not closing, or accepted and not connected yet: asyncio makes the
        protocols of a whole accept burst before it connects any of them. (Counting only
        connected ones let a burst's handlers escape the cap: 2,000 connections under a
        1,024 limit took the last file handles and killed the processor loop, EMFILE.)"""
        if handler.transport is None:
            return handler in self._connecting
        self._connecting.discard(handler)
        return not handler.transport.is_closing()

    def middleware(self, request_timeout_s: float) -> Any:
        metrics = self._metrics

        @web.middleware
        async def bounded(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            protocol = request.protocol
            self.busy.add(protocol)
            try:
                async with asyncio.timeout(request_timeout_s):
                    return await handler(request)
            except TimeoutError:
                if metrics is not None:
                    metrics.http_closed.labels("request_timeout").inc()
                return web.json_response(
                    {"error": f"request not complete in {request_timeout_s:g} s"},
                    status=408,
                    headers={"Connection": "close"},
                )
            except web.HTTPException:  # aiohttp's own answers (404, 405, 413, ...)
                raise
            except Exception:  # a view's bug: "ask again", never a verdict nor a crash
                log.exception("http: %s %r failed", request.method, request.path[:200])
                return web.json_response({"error": "view unavailable"}, status=503)
            finally:
                self.busy.discard(protocol)

        return bounded


async def serve(
    app: web.Application,
    host: str,
    port: int,
    limits: HttpLimits | None = None,
    metrics: WorkerMetrics | None = None,
) -> tuple[HttpServer, int]:
    """Start serving ``app`` within ``limits``; the runner (for cleanup) and the bound port."""
    limits = limits or HttpLimits()
    # handles: those open now (Kafka clients, logs) and a reserve stay free; connections get
    # half of the rest, the other half covers an accept burst and closes not done yet (asyncio
    # accepts up to the backlog at once, and frees a closed socket a loop turn later)
    spare = raise_open_files_limit() - open_files_now() - FILES_KEPT_FREE
    cap = max(2, min(limits.max_connections, spare // 2))
    runner = web.AppRunner(
        app,
        access_log=None,
        keepalive_timeout=limits.idle_timeout_s,
        max_line_size=limits.max_header_bytes,
        max_field_size=limits.max_header_bytes,
        max_headers=limits.max_headers,
    )
    connections = _Connections(cap, metrics)
    app.middlewares.insert(0, connections.middleware(limits.request_timeout_s))
    await runner.setup()  # freezes the app (its middlewares) and makes runner.server
    connections.server = runner.server
    server = await asyncio.get_running_loop().create_server(
        connections, host, port, backlog=ACCEPT_BACKLOG
    )
    for listening in server.sockets:  # asyncio's listen() sized the queue as its accept burst
        with socket.fromfd(listening.fileno(), listening.family, listening.type) as same:
            same.listen(KERNEL_BACKLOG)  # a dup of the same socket: resizes its queue only
    bound = int(server.sockets[0].getsockname()[1]) if server.sockets else port
    return HttpServer(runner, server), bound


class HttpServer:
    """The app runner and our listening server: ``cleanup`` stops both."""

    def __init__(self, runner: web.AppRunner, server: asyncio.Server) -> None:
        self.runner = runner
        self.server = server

    async def cleanup(self) -> None:
        self.server.close()
        await self.runner.cleanup()
