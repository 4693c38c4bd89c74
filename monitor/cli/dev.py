"""``rollguard dev broker start|stop|status``: the project's own Apache Kafka for development."""

from __future__ import annotations

from typing import Annotated

import typer

from monitor import devbroker
from monitor.cli.common import err_console, fail, group


def register(app: typer.Typer) -> None:
    dev = group(help="Development helpers.", no_args_is_help=True)
    broker = group(
        help="A local single-node Apache Kafka (KRaft) from Maven Central jars.",
        no_args_is_help=True,
    )
    dev.add_typer(broker, name="broker")
    app.add_typer(dev, name="dev")

    @broker.command("start")
    def start(
        port: Annotated[int, typer.Option(help="PLAINTEXT port; 0 picks a free one.")] = 0,
    ) -> None:
        """Fetch Kafka's jars once, format storage and start the broker in the background."""
        running = devbroker.load_running()
        if running is not None:
            typer.echo(f"already running: {running.bootstrap} (pid {running.pid})")
            return
        err_console.print(f"starting Apache Kafka {devbroker.KAFKA_VERSION} ...")
        try:
            b = devbroker.start(port=port or None)
        except devbroker.BrokerError as exc:
            fail(str(exc))
        devbroker.save_running(b)
        typer.echo(f"{b.bootstrap}")
        err_console.print(
            f"ready in {b.started_s:.1f} s: pid {b.pid}, data {b.workdir}; "
            "stop with `rollguard dev broker stop`"
        )

    @broker.command("stop")
    def stop() -> None:
        """Stop the broker this command started (by its PID) and delete its data."""
        running = devbroker.load_running()
        if running is None:
            typer.echo("not running")
            return
        running.stop()
        devbroker.forget_running()
        typer.echo(f"stopped pid {running.pid}")

    @broker.command("status")
    def status() -> None:
        """Print the bootstrap address of the running dev broker; exit 1 when none runs."""
        running = devbroker.load_running()
        if running is None:
            typer.echo("not running")
            raise typer.Exit(1)
        typer.echo(f"running: {running.bootstrap} (pid {running.pid}, data {running.workdir})")
