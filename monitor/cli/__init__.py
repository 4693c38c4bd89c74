"""The ``rollguard`` command. Each command family lives in its own module and registers
itself here; this file only wires them together (no work at import time beyond that)."""

from __future__ import annotations

from typing import Annotated

import typer

from monitor import __version__
from monitor.cli import core, dashboards, demo, dev, orchestrator, sim, topics, worker
from monitor.cli.common import group

app = group(
    name="rollguard",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"rollguard {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Guard software rollouts: learn baselines, apply rules, publish signed decisions."""


for module in (demo, worker, core, sim, orchestrator, dashboards, topics, dev):
    module.register(app)


def main() -> None:
    app(prog_name="rollguard")  # also under `python -m monitor`
