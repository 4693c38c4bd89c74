"""Small helpers every command family shares: errors to the terminal, broker options."""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer
from rich.console import Console

err_console = Console(stderr=True)

BootstrapOption = Annotated[
    str,
    typer.Option(
        "--bootstrap",
        "-b",
        envvar="ROLLGUARD_BOOTSTRAP",
        help="Kafka bootstrap servers (host:port[,host:port]). "
        "Default: the dev broker started with `rollguard dev broker start`.",
    ),
]
PrefixOption = Annotated[
    str,
    typer.Option(
        "--topic-prefix",
        envvar="ROLLGUARD_TOPIC_PREFIX",
        help="Prefix of rollguard's topic names (<prefix>.telemetry, <prefix>.control, ...).",
    ),
]


def fail(message: str, code: int = 2) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def resolve_bootstrap(bootstrap: str) -> str:
    """An explicit --bootstrap wins; else the running dev broker; else a clear error."""
    if bootstrap:
        return bootstrap
    from monitor import devbroker

    running = devbroker.load_running()
    if running is None:
        fail(
            "no Kafka to talk to: pass --bootstrap HOST:PORT (or ROLLGUARD_BOOTSTRAP), "
            "or start the dev broker with `rollguard dev broker start`"
        )
    return running.bootstrap
