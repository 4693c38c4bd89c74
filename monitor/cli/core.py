"""``rollguard check`` (validate plans and rules) and ``rollguard replay`` (run the core
over a recorded stream, print the timeline, write decisions and a report)."""

from __future__ import annotations

import gc
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from monitor.cli.common import err_console, fail

console = Console(width=None if Console().is_terminal else 160)


def _yaml_files(paths: list[Path]) -> list[Path]:
    """Files as given; directories expand to their *.yaml / *.yml files (sorted). A missing
    path or a directory without YAML is an error (exit 1), not an empty plan set."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted([*p.rglob("*.yaml"), *p.rglob("*.yml")])
            if not found:
                fail(f"{p}: no plan or rule files (*.yaml, *.yml) in this directory", code=1)
            out.extend(found)
        elif not p.exists():
            fail(f"{p}: no such plan or rule file", code=1)
        else:
            out.append(p)
    if not out:
        fail("no plan or rule files given", code=1)
    return out


def _config_errors(exc: Exception) -> NoReturn:
    for line in str(exc).splitlines():
        err_console.print(f"[red]error:[/red] {escape(line)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def check(
    files: Annotated[list[Path], typer.Argument(help="Plan and rule YAML files or directories.")],
) -> None:
    """Validate plans and rules; print a summary, or every problem with file:line."""
    from monitor.core import load_plans
    from topics.errors import ConfigError

    paths = _yaml_files(files)
    try:
        plans = load_plans(paths)
    except ConfigError as exc:
        _config_errors(exc)
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
        str | None,
        typer.Option(help="Plan for rollouts with no `registered` event (or an unknown plan)."),
    ] = None,
    decisions: Annotated[
        Path | None,
        typer.Option(help="Decisions JSONL (default: ./<events>.decisions.jsonl)."),
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="HTML report (default: ./<events>.report.html).")
    ] = None,
    no_report: Annotated[
        bool,
        typer.Option("--no-report", help="No HTML report (the timeline and decisions stay)."),
    ] = False,
    batch_size: Annotated[int, typer.Option(help="Events per core.process call.")] = 256,
) -> None:
    """Run the core over a recorded stream: timeline, decisions JSONL, HTML report.

    Outputs go to the working directory. Every rollout in the stream needs a plan: its
    `registered` plan event names one, or --default-plan gives it; a rollout left without
    one is an error (exit 1) after the outputs are written.
    """
    from monitor.core import Core, load_plans
    from topics.errors import ConfigError

    if not events.is_file():
        fail(f"{events}: no such file", code=1)
    try:
        plans = load_plans(_yaml_files(plan))
        core = Core(plans, default_plan=default_plan)
    except ConfigError as exc:
        _config_errors(exc)
    # What exists now (plans, the core, every imported library) lives until exit: frozen, the
    # cyclic collector stops re-scanning it. Left untouched it cost 8-17 % of replay time;
    # frozen, within noise of switching it off (0.93-1.04x, same peak RSS), and cycles made
    # during the replay are still collected (tests/bench/core/replay_gc.py, 120k and 480k
    # events, medians of 5 paired runs).
    gc.freeze()
    result = _run(events, core, batch_size, record=not no_report)
    _print_timeline(result, events.name)
    stem = Path((events.with_suffix("") if events.suffix == ".gz" else events).name)
    out_decisions = decisions or stem.with_suffix(".decisions.jsonl")
    _write_decisions(result, out_decisions)
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
        from monitor.operators.report import render_html

        out_report = report or stem.with_suffix(".report.html")
        out_report.write_text(
            render_html(result, f"rollguard replay: {events.name}"), encoding="utf-8"
        )
        console.print(f"report -> {out_report}")
    _fail_on_unbound(core.unbound(), plans.names(), default_plan)
    if result.events == 0:
        fail(f"{events}: no events (lines: {result.lines}, dead letters: {dead})", code=1)


def _run(events: Path, core: Any, batch_size: int, *, record: bool) -> Any:
    """The replay, with a progress bar over the file's bytes on a terminal."""
    import gzip

    from monitor.cli.progress import progress
    from monitor.core.replay import replay as run_replay

    size = events.stat().st_size
    with events.open("rb") as raw, progress(f"replay {events.name}", size) as update:
        fh: Any = gzip.GzipFile(fileobj=raw) if events.suffix == ".gz" else raw
        return run_replay(
            fh, core, batch_size=batch_size, record=record, on_batch=lambda _: update(raw.tell())
        )


def _print_timeline(result: Any, name: str) -> None:
    table = Table(title=f"replay of {name}")
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
        headline, _, stats = cmd.reason.partition("\n")
        reason = escape(headline) + (f"\n[dim]{escape(stats)}[/dim]" if stats else "")
        rows.append(
            (cmd.issued_at, 0, (_iso(cmd.issued_at), cmd.rollout_id, cmd.stage, what, reason))
        )
    for _, _, row in sorted(rows, key=lambda r: (r[0], r[1])):
        table.add_row(*row)
    console.print(table)


def _write_decisions(result: Any, path: Path) -> None:
    from topics.commands import encode_command

    with path.open("wb") as fh:
        for cmd in result.commands:
            fh.write(encode_command(cmd) + b"\n")


def _fail_on_unbound(
    unbound: dict[str, str | None], known: list[str], default_plan: str | None
) -> None:
    """Rollouts of the stream that no plan covered: one error line, exit 1."""
    if not unbound:
        return
    import difflib

    parts = []
    for rollout_id, named in sorted(unbound.items())[:5]:
        if named is None:
            parts.append(f"{rollout_id} (no `registered` plan event)")
            continue
        close = difflib.get_close_matches(named, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        parts.append(f"{rollout_id} (plan {named!r} is not loaded{hint})")
    more = f" and {len(unbound) - 5} more" if len(unbound) > 5 else ""
    fix = (
        "pass the plan's file with -p"
        if default_plan is None
        else f"--default-plan {default_plan} covers only rollouts never registered"
    )
    loaded = ", ".join(known) or "none"
    fail(
        f"{len(unbound)} rollout(s) without a plan, their events not applied: "
        f"{'; '.join(parts)}{more}. Loaded plans: {loaded}; {fix}, or --default-plan NAME.",
        code=1,
    )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def schema(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write it here instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of plan and rule files (for editors; check adds what a schema
    cannot see, such as references across files)."""
    from monitor.core.plan_schema import render

    data = render()
    if out is None:
        sys.stdout.buffer.write(data)
        return
    out.write_bytes(data)
    err_console.print(f"wrote {out}")


def register(app: typer.Typer) -> None:
    """Add ``check``, ``schema`` and ``replay`` to ``app``."""
    app.command("check")(check)
    app.command("schema")(schema)
    app.command("replay")(replay)
