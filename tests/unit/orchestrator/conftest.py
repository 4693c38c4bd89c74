"""A real aiohttp server on 127.0.0.1 (in a thread), serving the verdict routes from a dict."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web

from monitor.orchestrators.verdict import add_verdict_routes

TOKEN = "verdict-token-0123456789"


@dataclass
class VerdictServer:
    base_url: str
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)

    def view(self, rollout_id: str) -> dict[str, Any] | None:
        if rollout_id in self.broken:
            raise RuntimeError("view failed")
        return self.views.get(rollout_id)


def _serve(token: str | None) -> Iterator[VerdictServer]:
    loop = asyncio.new_event_loop()
    server = VerdictServer(base_url="")
    app = web.Application()
    add_verdict_routes(app, server.view, token=token)
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.base_url = f"http://127.0.0.1:{port}"
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture(scope="module")
def open_server() -> Iterator[VerdictServer]:
    """Verdict routes without a token."""
    yield from _serve(None)


@pytest.fixture(scope="module")
def token_server() -> Iterator[VerdictServer]:
    """Verdict routes requiring ``TOKEN``."""
    yield from _serve(TOKEN)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    """One keep-alive HTTP client (fuzz tests send hundreds of requests)."""
    with httpx.Client(timeout=5) as client:
        yield client
