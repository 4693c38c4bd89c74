"""``rollguard status [ROLLOUT] [--watch]``: the fleet's rollouts, read straight from the
status topic (no worker needed). In a terminal ``--watch`` redraws the screen in place; in a
pipe it prints a new screen (plain text, no colour) only when something changed."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from monitor.cli.common import BootstrapOption, PrefixOption, fail, resolve_bootstrap
from topics.config import TopicsConfig

CLEAR = "\x1b[H\x1b[2J"


def register(app: typer.Typer) -> None:
    @app.command("status")
    def status(
        rollout: Annotated[
            str | None, typer.Argument(help="One rollout's screen; none: a table of all.")
        ] = None,
        watch: Annotated[bool, typer.Option("--watch", "-w", help="Keep watching.")] = False,
        interval: Annotated[
            float, typer.Option(help="Seconds between screens with --watch.")
        ] = 1.0,
        stale_after: Annotated[
            float, typer.Option(help="A status unconfirmed this long reads stale.")
        ] = 5.0,
        trusted_keys: Annotated[
            Path | None,
            typer.Option(
                "--trusted-keys",
                envvar="ROLLGUARD_TRUSTED_KEYS_FILE",
                help="Trusted key ring to verify the status records with (else unverified).",
            ),
        ] = None,
        bootstrap: BootstrapOption = "",
        prefix: PrefixOption = "rollguard",
    ) -> None:
        """Stages, traffic, rules with values and thresholds, sign-offs awaited and the last
        decisions of a rollout (or a table of all), from the status topic."""
        from monitor.edge.kafka_options import KafkaSecurity
        from monitor.operators.status_view import render_rollout, render_table
        from monitor.status.reader import StatusSnapshot
        from monitor.status.table import StatusTable
        from topics.keyfiles import ring_from

        servers = resolve_bootstrap(bootstrap)
        topics = TopicsConfig().with_prefix(prefix)
        ring = ring_from(trusted_keys)
        table = StatusTable(ring, stale_after)
        tty = sys.stdout.isatty()

        def screen() -> str:
            now = time.time()
            if rollout is None:
                return render_table(table.all(now), verified=table.verified)
            known = table.lookup(rollout, now)
            if known is None:
                close = table.suggest(rollout)
                hint = f"; did you mean {' or '.join(close)}?" if close else ""
                return f"rollout {rollout!r} is not known to the fleet (yet){hint}"
            return render_rollout(known, verified=table.verified)

        try:
            with StatusSnapshot(
                servers, topics.status, table, KafkaSecurity.from_env().kafka_python()
            ) as snapshot:
                if rollout is not None and not watch and table.lookup(rollout, 0) is None:
                    fail(screen(), code=1)
                last = ""
                while True:
                    text = screen()
                    if tty and watch:
                        sys.stdout.write(CLEAR + text + "\n")
                    elif text != last or not watch:
                        if watch and last:
                            sys.stdout.write("\n" + "-" * 72 + "\n")
                        sys.stdout.write(text + "\n")
                    sys.stdout.flush()
                    last = text
                    if not watch:
                        return
                    deadline = time.monotonic() + interval
                    while (left := deadline - time.monotonic()) > 0:
                        snapshot.poll(min(left, 0.5))
        except LookupError as exc:
            fail(str(exc), code=1)
        except KeyboardInterrupt:
            return
