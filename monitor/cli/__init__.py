"""The ``rollguard`` command. Each command family lives in its own module and registers
itself here; this file only wires them together (no work at import time beyond that)."""

from __future__ import annotations

import typer

from monitor.cli import core, dashboards, demo, dev, orchestrator, sim, topics, worker

app = typer.Typer(
    name="rollguard",
    help="Guard software rollouts: learn baselines, apply rules, publish signed decisions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for module in (demo, worker, core, sim, orchestrator, dashboards, topics, dev):
    module.register(app)


def main() -> None:
    app()
