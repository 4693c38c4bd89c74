"""Verdict HTTP endpoints for Argo Rollouts' Web metric provider and Flagger webhooks.

The worker's HTTP server calls :func:`add_verdict_routes`; the routes answer from the
core's rollout views (``CoreProtocol.view``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web


def add_verdict_routes(
    app: web.Application,
    views: Callable[[str], dict[str, Any] | None],
    *,
    token: str | None = None,
) -> None:
    """Mount the verdict routes on ``app`` (filled in by the orchestrator-side issue)."""
