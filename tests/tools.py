"""Where the tests find the external programs ``scripts/install dev`` provides.

Prometheus and promtool are unpacked from Debian's package into the cache (no system
service); a copy on PATH is used when the cache has none. Chromium comes from apt-get.
check-jsonschema is pip-installed into a directory of its own in the cache: it needs
click >= 8.5, which faust-streaming (the ``faust`` extra, in ``dev``) forbids in the
project's environment.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import NamedTuple

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


class Command(NamedTuple):
    argv: list[str]
    env: dict[str, str]


def check_jsonschema() -> Command | None:
    """How to run check-jsonschema: the cache's copy (with its own click), else PATH's."""
    cached = cache_dir() / "tools" / "check-jsonschema"
    if (cached / "check_jsonschema").is_dir():
        env = {**os.environ, "PYTHONPATH": str(cached)}
        return Command([sys.executable, "-m", "check_jsonschema"], env)
    found = shutil.which("check-jsonschema")
    return Command([found], dict(os.environ)) if found else None


def missing_reason(tool: str) -> str:
    return f"{tool} not installed: run `bash scripts/install dev` (as root for apt-get)"
