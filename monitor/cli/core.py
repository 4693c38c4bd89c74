"""``rollguard check`` (validate plans and rules) and ``rollguard replay`` (run the core
over a recorded stream, print the timeline, write decisions and a report)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from monitor.cli.common import err_console, fail

console = Console(width=None if Console().is_terminal else 160)


def _yaml_files(paths: list[Path]) -> list[Path]:
    """Files as given; directories expand to their *.yaml / *.yml files (sorted)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted([*p.rglob("*.yaml"), *p.rglob("*.yml")]))
        else:
            out.append(p)
    return out


def check(
    files: Annotated[list[Path], typer.Argument(help="Plan and rule YAML files or directories.")],
) -> None:
    """Validate plans and rules; print a summary, or every problem with file:line."""
    from monitor.core import load_plans
    from monitor.errors import ConfigError

    paths = _yaml_files(files)
    try:
        plans = load_plans(paths)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            err_console.print(f"[red]error:[/red] {line}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    table = Table(title=f"{len(plans.names())} plan(s) OK", show_lines=False)
    for col in (
        "plan",
        "version",
        "stage",
        "exposure",
        "dwell",
        "samples",
        "time box",
        "sign-offs",
        "rules",
    ):
        table.add_column(col)
    for name in plans.names():
        plan = plans[name]
        for i, st in enumerate(plan.stages):
            exposure = (f"{st.traffic_pct:g} %" if st.traffic_pct is not None else "") + (
                " " + ",".join(f"{k}={v}" for k, v in st.segment) if st.segment else ""
            )
            table.add_row(
                name + (" (dry-run)" if plan.dry_run and i == 0 else "") if i == 0 else "",
                plan.version if i == 0 else "",
                st.name,
                exposure.strip(),
                f"{st.min_dwell_s:g}s",
                str(st.min_samples),
                "-" if st.max_duration_s is None else f"{st.max_duration_s:g}s",
                ",".join(st.signoffs) or "-",
                str(len(st.rules)),
            )
    console.print(table)


def replay(
    events: Annotated[Path, typer.Argument(help="Recorded events, JSON lines (event or batch).")],
    plan: Annotated[
        list[Path],
        typer.Option("--plan", "-p", help="Plan/rule YAML files or directories (repeatable)."),
    ],
    default_plan: Annotated[
        str | None, typer.Option(help="Plan for rollouts that were never registered.")
    ] = None,
    decisions: Annotated[
        Path | None, typer.Option(help="Decisions JSONL (default: <events>.decisions.jsonl).")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="HTML report (default: <events>.report.html).")
    ] = None,
    no_report: Annotated[bool, typer.Option("--no-report", help="Skip the plots.")] = False,
    batch_size: Annotated[int, typer.Option(help="Events per core.process call.")] = 256,
) -> None:
    """Run the core over a recorded stream: timeline, decisions JSONL, HTML report."""
    from monitor.core import Core, load_plans
    from monitor.core.replay import replay as run_replay
    from monitor.errors import ConfigError
    from topics.commands import encode_command

    try:
        plans = load_plans(_yaml_files(plan))
        core = Core(plans, default_plan=default_plan)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            err_console.print(f"[red]error:[/red] {line}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    if not events.is_file():
        fail(f"{events}: no such file")
    import gzip

    opener = gzip.open if events.suffix == ".gz" else open
    with opener(events, "rb") as fh:
        result = run_replay(fh, core, batch_size=batch_size, record=not no_report)
    table = Table(title=f"replay of {events.name}")
    for col in ("event time (UTC)", "rollout", "stage", "what", "reason"):
        table.add_column(col, overflow="fold")
    rows: list[tuple[float, int, tuple[str, ...]]] = []
    for ch in result.stages:
        pct = "-" if ch.traffic_pct is None else f"{ch.traffic_pct:g} %"
        rows.append(
            (
                ch.ts,
                1,
                (_iso(ch.ts), ch.rollout_id, ch.stage, f"[dim]stage {ch.status} ({pct})[/dim]", ""),
            )
        )
    for cmd in result.commands:
        style = (
            "red"
            if cmd.action in ("halt", "rollback")
            else ("green" if cmd.action == "promote" else "yellow")
        )
        what = f"[{style}]{cmd.action}[/{style}]" + (" (advisory)" if cmd.advisory else "")
        rows.append(
            (cmd.issued_at, 0, (_iso(cmd.issued_at), cmd.rollout_id, cmd.stage, what, cmd.reason))
        )
    for _, _, row in sorted(rows, key=lambda r: (r[0], r[1])):
        table.add_row(*row)
    console.print(table)
    stem = events.with_suffix("") if events.suffix == ".gz" else events
    out_decisions = decisions or stem.with_suffix(".decisions.jsonl")
    with out_decisions.open("wb") as fh:
        for cmd in result.commands:
            fh.write(encode_command(cmd) + b"\n")
    dead = sum(result.dead.values())
    reasons = " (" + ", ".join(f"{k} {v}" for k, v in sorted(result.dead.items())) + ")"
    skipped = ", ".join(f"{k} {v}" for k, v in result.counters.items() if k != "events")
    console.print(
        f"{result.lines} lines, {dead} dead letters{reasons if dead else ''}; "
        f"{result.events} events decoded, {result.counters.get('events', 0)} applied "
        f"(not applied: {skipped}); {len(result.commands)} decisions -> {out_decisions}",
        highlight=False,
    )
    if not no_report:
        from monitor.report import render_html

        out_report = report or stem.with_suffix(".report.html")
        out_report.write_text(
            render_html(result, f"rollguard replay: {events.name}"), encoding="utf-8"
        )
        console.print(f"report -> {out_report}")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def register(app: typer.Typer) -> None:
    """Add ``check`` and ``replay`` to ``app``."""
    app.command("check")(check)
    app.command("replay")(replay)
