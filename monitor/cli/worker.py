"""CLI commands of this family (filled in by the issue that builds them)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this family's commands to ``app``."""
