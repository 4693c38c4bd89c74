"""Where the tests find the external programs ``scripts/install dev`` provides.

Prometheus and promtool are unpacked from Debian's package into the cache (no system
service); a copy on PATH is used when the cache has none. Chromium comes from apt-get.
"""

from __future__ import annotations

import shutil

from monitor.devbroker import cache_dir


def prometheus_tool(name: str) -> str | None:
    """Path of ``prometheus`` or ``promtool``: the cache's first, else PATH's, else None."""
    cached = cache_dir() / "prometheus" / "usr" / "bin" / name
    if cached.is_file():
        return str(cached)
    return shutil.which(name)


def chromium() -> str | None:
    """Debian's ``chromium`` (or ``chromium-browser`` elsewhere), None when absent."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def missing_reason(tool: str) -> str:
    return f"{tool} not installed: run `bash scripts/install dev` (as root for apt-get)"
