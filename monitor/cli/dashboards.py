"""``rollguard dashboards render|push``: Grafana dashboards as code."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from monitor.cli.common import fail, group


def register(app: typer.Typer) -> None:
    """Add this family's commands to ``app``."""
    family = group(
        help="Grafana dashboards: render to JSON, preview with data, push.",
        no_args_is_help=True,
    )
    app.add_typer(family, name="dashboards")

    @family.command("render", short_help="Write the dashboards' JSON (deterministic).")
    def render_cmd(
        out: Annotated[
            Path,
            typer.Option("--out", "-o", help="Directory for the JSON (in the working directory)."),
        ] = Path("dashboards/generated"),
        check: Annotated[
            bool, typer.Option("--check", help="Write nothing; fail if the JSON is stale.")
        ] = False,
    ) -> None:
        """Write rollouts-overview.json, rollout-detail.json, fleet-health.json (deterministic)."""
        from dashboards import render  # lazy: keep `rollguard --help` fast

        target = out
        if check:
            stale = render.stale(target)
            if stale:
                fail(
                    f"stale dashboard JSON in {target}: {', '.join(stale)}; run "
                    "`rollguard dashboards render`",
                    code=1,
                )
            Console().print(f"dashboard JSON in {target} is up to date")
            return
        for path in render.write(target):
            Console().print(f"wrote {path}")

    @family.command("preview", short_help="Draw each dashboard with data from Prometheus.")
    def preview_cmd(
        prometheus_url: Annotated[
            str,
            typer.Option(
                envvar="ROLLGUARD_PROMETHEUS_URL",
                help="Prometheus that scrapes the workers (its HTTP API is queried).",
            ),
        ] = "http://localhost:9090",
        rollout: Annotated[
            str | None, typer.Option(help="Rollout of the per-rollout panels (default: first).")
        ] = None,
        signal: Annotated[
            str | None, typer.Option(help="Signal of the repeated signal panel (default: first).")
        ] = None,
        since: Annotated[str, typer.Option(help="Time range up to now, e.g. 15m, 1h.")] = "15m",
        out: Annotated[
            Path, typer.Option("--out", "-o", help="Directory for the PNG files.")
        ] = Path("rollguard-out/dashboards"),
    ) -> None:
        """Draw each dashboard with its panels' data from a Prometheus (what Grafana shows)."""
        from dashboards.preview import write_previews  # lazy: matplotlib
        from dashboards.prom import Prometheus, PrometheusError
        from monitor.core.fields import parse_duration

        range_s = parse_duration(since)
        if not range_s:
            fail(f"--since {since!r}: expected a duration like 15m or 1h")
        try:
            paths, reports = write_previews(
                Prometheus(prometheus_url), out, rollout=rollout, signal=signal, range_s=range_s
            )
        except PrometheusError as exc:
            fail(str(exc), code=1)
        empty = [f"{r.dashboard} / {r.title}" for r in reports if r.series == 0]
        for path in paths:
            Console().print(f"wrote {path}")
        Console().print(
            f"{len(reports)} panels, {len(reports) - len(empty)} with data"
            + (f"; no data: {', '.join(empty)}" if empty else ""),
            highlight=False,
        )

    @family.command("push", short_help="Install folder, datasource and dashboards.")
    def push_cmd(
        *,
        grafana_url: Annotated[
            str,
            typer.Option(
                envvar=["ROLLGUARD_GRAFANA_URL", "GRAFANA_URL"],
                help="Grafana base URL, e.g. http://localhost:3000",
            ),
        ],
        prometheus_url: Annotated[
            str,
            typer.Option(
                envvar="ROLLGUARD_PROMETHEUS_URL",
                help="URL Grafana uses to reach Prometheus (the datasource it creates).",
            ),
        ] = "http://prometheus:9090",
        token: Annotated[
            str,
            typer.Option(
                envvar=["ROLLGUARD_GRAFANA_TOKEN", "GRAFANA_TOKEN"],
                help="Service account token (Bearer).",
            ),
        ] = "",
        user: Annotated[str, typer.Option(envvar="GRAFANA_USER", help="Basic auth user.")] = "",
        password: Annotated[
            str, typer.Option(envvar="GRAFANA_PASSWORD", help="Basic auth password.")
        ] = "",
        folder: Annotated[str, typer.Option(help="Folder uid and title.")] = "rollguard",
    ) -> None:
        """Create or update the folder, the Prometheus datasource and the dashboards."""
        from dashboards.push import PushError, api_model, push  # lazy, as above

        if not token and not (user and password):
            fail("pass --token (GRAFANA_TOKEN) or --user and --password")
        model = api_model(grafana_url, token or None, user or None, password or None)
        try:
            report = push(model, prometheus_url, folder_uid=folder, folder_title=folder)
        except PushError as exc:
            fail(str(exc), code=1)
        console = Console()
        console.print(f"folder {folder}: {report.folder}")
        console.print(f"datasource rollguard-prometheus: {report.datasource}")
        for uid, what in report.dashboards.items():
            console.print(f"dashboard {uid}: {what}")
