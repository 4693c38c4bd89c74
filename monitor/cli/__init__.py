"""The ``rollguard`` command. Each command family lives in its own module with a
``register(app)``; :data:`COMMANDS` names them, and the root group (:mod:`.lazy`) imports and
builds a command's module only when that command runs (``--help`` lists the summaries)."""

from __future__ import annotations

from typing import Annotated

import typer

from monitor import __version__
from monitor.cli.common import group
from monitor.cli.lazy import Entry, LazyGroup

COMMANDS: dict[str, Entry] = {
    "demo": Entry("monitor.cli.demo", "The whole product on a local Kafka (~2 min)."),
    "worker": Entry("monitor.cli.worker", "Run one stream worker of the fleet."),
    "check": Entry("monitor.cli.core", "Validate plan and rule files (file:line)."),
    "schema": Entry("monitor.cli.core", "JSON Schema of plan and rule files (editors)."),
    "replay": Entry("monitor.cli.core", "Run the core over a recorded stream."),
    "simulate": Entry("monitor.cli.sim", "Simulate trading telemetry with faults."),
    "kill": Entry("monitor.cli.operators", "HALT a rollout now (needs no worker)."),
    "resume": Entry("monitor.cli.operators", "Resume a paused, frozen or halted rollout."),
    "signoff": Entry("monitor.cli.operators", "Sign off a stage promotion (cto, coo, ...)."),
    "tail": Entry("monitor.cli.evidence", "Follow decisions as they come, verified."),
    "export": Entry("monitor.cli.evidence", "Evidence pack of a rollout (JSONL + CSV)."),
    "keys": Entry("monitor.cli.keys", "Ed25519 signing keys and trusted key rings."),
    "status": Entry("monitor.cli.status", "Every rollout's state, or one's screen (--watch)."),
    "bench": Entry("monitor.cli.sim", "Benchmarks of detection quality."),
    "dashboards": Entry("monitor.cli.dashboards", "Grafana dashboards: render, preview, push."),
    "topics": Entry("monitor.cli.topics", "Create or describe rollguard's Kafka topics."),
    "dev": Entry("monitor.cli.dev", "Development helpers (a local Kafka)."),
}
"""Every command: the module that registers it, and its line in ``rollguard --help``."""

app = group(
    cls=LazyGroup,
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


def main() -> None:
    app(prog_name="rollguard")  # also under `python -m monitor`
