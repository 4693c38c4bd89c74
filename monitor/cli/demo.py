"""``rollguard demo``: the whole product on a local broker, in about two minutes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        out: Annotated[
            Path | None,
            typer.Option(
                "--out", "-o", help="Where the report, events and logs go (rollguard-out/demo)."
            ),
        ] = None,
        speed: Annotated[
            float, typer.Option(help="Event time runs this many times faster.")
        ] = 16.0,
        minutes: Annotated[float, typer.Option(help="Simulated trading minutes.")] = 16.0,
        no_live: Annotated[
            bool, typer.Option("--no-live", help="Plain log lines instead of a live table.")
        ] = False,
    ) -> None:
        """Start Kafka and two workers, simulate three rollouts, show every decision, stop."""
        from monitor.demo import DemoOptions, default_out_dir, run_demo
        from topics.errors import RollguardError

        console = Console()
        options = DemoOptions(
            out_dir=out or default_out_dir(),
            speed=speed,
            duration_s=minutes * 60,
            live=not no_live,
        )
        try:
            result = run_demo(options, console)
        except RollguardError as exc:
            console.print(f"[red]demo failed:[/red] {exc}")
            raise typer.Exit(2) from exc
        table = Table("rollout", "expected", "observed", "ok", title="5/5 what happened")
        for o in result.outcomes:
            table.add_row(
                o.rollout_id, o.expected, o.observed, "[green]yes[/]" if o.ok else "[red]NO[/]"
            )
        console.print(table)
        console.print(
            f"{result.events:,} events, {len(result.decisions)} signed decisions in "
            f"{result.seconds:.0f} s; live decisions equal the offline replay: "
            + ("[green]yes[/]" if result.matches_replay else "[red]no[/]")
        )
        console.print(f"report with plots: [bold]{result.report}[/bold]")
        console.print(
            "next: `docker compose up` for Grafana dashboards (README), "
            "`rollguard replay your-events.jsonl --plan your-plan.yaml` on your own data, "
            "`rollguard check` on a plan of your own (start from examples/plans/)."
        )
        if not result.ok:
            raise typer.Exit(1)
