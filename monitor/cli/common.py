"""Small helpers every command family shares: errors to the terminal, broker options."""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

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


def group(**settings: Any) -> typer.Typer:
    """A command group with plain help (click's): rich's help renderer and its markdown
    stack cost ~50 ms of every start here, twice that on a loaded machine."""
    settings.setdefault("add_completion", False)  # no --install-completion on every command
    return typer.Typer(rich_markup_mode=None, **settings)


def old_name(name: str) -> Any:
    """A hidden option under a name an earlier release used (scripts keep working)."""
    return typer.Option(name, hidden=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr (never wrapped, markup in ``message`` shown as is), then exit."""
    err_console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(code)


def resolve_bootstrap(bootstrap: str, *, probe: bool = True) -> str:
    """An explicit --bootstrap wins; else the running dev broker; else a clear error.

    ``probe``: fail at once (one line, exit 1) when no bootstrap address accepts a
    connection, instead of the Kafka client's silent ~30 s wait and traceback. A worker
    does not probe: it waits for its brokers (a fleet may start before Kafka does).
    """
    hint = "check --bootstrap (or ROLLGUARD_BOOTSTRAP)"
    if not bootstrap:
        from monitor import devbroker

        running = devbroker.load_running()
        if running is None:
            fail(
                "no Kafka to talk to: pass --bootstrap HOST:PORT (or ROLLGUARD_BOOTSTRAP), "
                "or start the dev broker with `rollguard dev broker start`"
            )
        bootstrap = running.bootstrap
        hint = "the dev broker seems stopped: `rollguard dev broker stop` and `start` again"
    if probe:
        from monitor.edge.reach import KafkaUnreachableError, check_reachable

        try:
            check_reachable(bootstrap)
        except KafkaUnreachableError as exc:
            fail(f"{exc}; {hint}", code=1)
    return bootstrap
