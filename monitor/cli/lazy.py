"""The root command group loads a command's module only when that command runs.

Typer turns every registered function into a click command (signature, types, pydantic
adapters) when the group is built: with every family imported and converted, even
``rollguard kill --help`` paid for all twenty commands. Here the root knows each command's
name, module and one-line summary; ``rollguard --help`` lists the summaries, and running a
command (or its ``--help``) builds only its own module's commands.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import typer
from typer.core import TyperCommand, TyperGroup


class Entry(NamedTuple):
    module: str
    """Module whose ``register(app)`` adds the command (or family)."""
    summary: str
    """One line for ``rollguard --help``."""


class LazyGroup(TyperGroup):
    """A TyperGroup whose commands come from :data:`monitor.cli.COMMANDS`, built on use."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listing = False

    @staticmethod
    def _entries() -> dict[str, Entry]:
        from monitor.cli import COMMANDS

        return COMMANDS

    # click's types are Any here: typer 0.29 vendors its own click (typer._click), older
    # releases use click itself; the methods below work with either.
    def list_commands(self, ctx: Any) -> list[str]:
        return list(self._entries())

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        entry = self._entries().get(cmd_name)
        if entry is None:
            return None
        if self._listing:  # the root's help needs names and summaries only
            return TyperCommand(cmd_name, short_help=entry.summary, help=entry.summary)
        from monitor.cli.common import group

        family = group()
        # __import__, not importlib.import_module: the C import path shows in -X importtime
        __import__(entry.module, fromlist=["register"]).register(family)
        built: Any = typer.main.get_command(family)
        if hasattr(built, "commands"):
            return built.get_command(ctx, cmd_name)
        return built  # a module of one command: typer builds the command itself

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            self._listing = False
