"""Reading decisions back, verified with the trusted key ring: ``tail`` (live) and ``export``
(an evidence pack of one rollout). Options, key ring and Kafka settings as the controls of
:mod:`.operators` take them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from monitor.cli.common import BootstrapOption, PrefixOption, err_console, fail, resolve_bootstrap
from monitor.cli.operators import (
    ROLLOUT_RE,
    ForceOption,
    SecurityProtocolOption,
    TrustedKeysOption,
    console_out,
    kafka_error,
    kafka_options_from,
    require_known,
    trusted_ring,
)
from topics.config import TopicsConfig
from topics.errors import ConfigError


def register(app: typer.Typer) -> None:
    """Add this family's commands to ``app``."""

    @app.command("tail")
    def tail(
        rollout: Annotated[str | None, typer.Option(help="Only this rollout (and '*').")] = None,
        from_beginning: Annotated[
            bool, typer.Option("--from-beginning", help="Start at the oldest command kept.")
        ] = False,
        follow: Annotated[bool, typer.Option(help="Keep waiting for new commands.")] = True,
        trusted_keys: TrustedKeysOption = None,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
        bootstrap: BootstrapOption = "",
        prefix: PrefixOption = "rollguard",
        kafka_security_protocol: SecurityProtocolOption = None,
    ) -> None:
        """Live, human-readable decision stream with each command's verification status."""
        from monitor.operators.tail import render_tail

        topics = TopicsConfig().with_prefix(prefix)
        keys = trusted_ring(trusted_keys)
        servers = resolve_bootstrap(bootstrap)
        options = kafka_options_from(kafka_security_protocol)
        try:
            render_tail(
                servers,
                topics.control,
                rollout=rollout,
                from_beginning=from_beginning,
                follow=follow,
                keys=keys,
                as_json=as_json,
                kafka_options=options,
            )
        except (LookupError, ConfigError) as exc:
            fail(str(exc), code=1)
        except Exception as exc:  # the Kafka client's many error types: one clear line
            fail(f"reading {topics.control} from {servers} failed: {kafka_error(exc)}", code=1)

    @app.command("export")
    def export(
        rollout: Annotated[str, typer.Option("--rollout", help="Rollout id.")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write.")] = Path(
            "evidence"
        ),
        plan: Annotated[
            list[Path] | None, typer.Option("--plan", "-p", help="Plan/rule file (repeatable).")
        ] = None,
        trusted_keys: TrustedKeysOption = None,
        bootstrap: BootstrapOption = "",
        prefix: PrefixOption = "rollguard",
        kafka_security_protocol: SecurityProtocolOption = None,
        force: ForceOption = False,
    ) -> None:
        """Evidence pack of a rollout (JSONL + CSV) read from Kafka; needs no worker."""
        from monitor.operators import export as evidence

        if not ROLLOUT_RE.fullmatch(rollout):
            fail(f"rollout id {rollout!r}: expected [A-Za-z0-9_.:/@+-], at most 128 characters")
        for path in plan or []:
            if not path.is_file():
                fail(f"{path}: no such plan file")
        keys = trusted_ring(trusted_keys)  # None: exported as "unverified" (and said so)
        if keys is None:
            err_console.print("[yellow]warning:[/] no trusted keys: nothing will be verified")
        topics = TopicsConfig().with_prefix(prefix)
        servers = resolve_bootstrap(bootstrap)
        options = kafka_options_from(kafka_security_protocol)
        require_known(servers, topics, options, rollout, force=force)
        try:
            pack = evidence.collect(
                servers, topics, rollout, plan_files=plan or [], keys=keys, kafka_options=options
            )
        except (LookupError, ValueError) as exc:
            fail(str(exc), code=1)
        except Exception as exc:  # the Kafka client's many error types: one clear line
            fail(f"reading the evidence from Kafka failed: {kafka_error(exc)}", code=1)
        files = evidence.write(pack, out)
        manifest = pack.manifest()
        console_out().print(
            f"evidence pack for {escape(rollout)}: {manifest['decisions']} decisions "
            f"({manifest['unverified_decisions']} not verified), {manifest['signoffs']} "
            f"sign-offs, {manifest['plan_events']} lifecycle events, "
            f"{len(manifest['plan_files'])} plan files → {out}"
        )
        for path in files:
            console_out().print(f"  {escape(str(path))}")
