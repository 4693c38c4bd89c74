"""``rollguard keys``: make Ed25519 signing keys and the trusted ring that verifies them.

``generate`` writes a private key file (mode 0600, never over an existing file) and adds
its public half, with its authority, to a trusted ring; ``show`` lists a ring (or the
public half of a key file). Private keys are never printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import msgspec
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from monitor.cli.common import fail
from topics.errors import ConfigError

keys_app = typer.Typer(help="Ed25519 signing keys and trusted key rings.", no_args_is_help=True)


@keys_app.command("generate")
def generate(
    key_id: Annotated[
        str, typer.Option("--key-id", help="Id of the new key, e.g. worker-2026-01.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Private key file to write (0600).")],
    role: Annotated[str, typer.Option(help="worker or operator.")] = "worker",
    name: Annotated[
        str | None, typer.Option(help="Operator keys: the person holding it (issuer name).")
    ] = None,
    rollout: Annotated[
        list[str] | None,
        typer.Option(
            "--rollout",
            help="Rollouts it may sign for: a name or a prefix ending in '*' (repeatable; "
            "required for worker keys; operators: all when omitted).",
        ),
    ] = None,
    signoff_role: Annotated[
        list[str] | None,
        typer.Option("--signoff-role", help="Operator keys: sign-off roles (cto, coo, ...)."),
    ] = None,
    ring: Annotated[
        Path | None,
        typer.Option("--ring", help="Trusted ring (public) to add the key to; created if new."),
    ] = None,
) -> None:
    """Generate a signing key; add its public half to a trusted ring."""
    from topics.keyfiles import add_to_ring, ring_entry, write_signing_key
    from topics.keys import ROLES, SigningKey

    known = next((r for r in ROLES if r == role), None)  # the Literal, narrowed
    if known is None:
        fail(f"--role {role!r}: expected worker or operator")
    try:
        key = SigningKey.generate(key_id, known, name)
        public = key.public(tuple(rollout) if rollout else None, frozenset(signoff_role or ()))
        write_signing_key(key, out)
        if ring is not None:
            add_to_ring(ring, public)
    except ConfigError as exc:
        fail(str(exc))
    console = Console(highlight=False, soft_wrap=True)
    console.print(f"private key written to {escape(str(out))} (mode 0600: keep it secret)")
    if ring is not None:
        console.print(f"public key added to the trusted ring {escape(str(ring))}")
    console.print(msgspec.json.format(msgspec.json.encode(ring_entry(public))).decode())


@keys_app.command("show")
def show(
    path: Annotated[Path, typer.Argument(help="A trusted ring, or a private key file.")],
) -> None:
    """List the keys of a ring (or the public half of a key file); exit 2 if it is invalid."""
    from topics.keyfiles import load_ring, load_signing_key
    from topics.signing import MalformedError, parse_strict

    try:
        raw = parse_strict(path.read_bytes(), 8) if path.is_file() else {}
    except (OSError, MalformedError):
        raw = {}
    try:
        if "private_key" in raw:
            key = load_signing_key(path)
            keys = [key.public(("(set in the ring)",) if key.role == "worker" else None)]
        else:
            keys = list(load_ring(path).values())
    except ConfigError as exc:
        fail(str(exc))
    table = Table(title=escape(str(path)))
    for column in ("key id", "role", "name", "rollouts", "sign-off roles", "public key"):
        table.add_column(column)
    for k in keys:
        table.add_row(
            escape(k.key_id),
            k.role,
            escape(k.name or "-"),
            escape(", ".join(k.rollouts) if k.rollouts is not None else "all"),
            escape(", ".join(sorted(k.signoff_roles)) or "-"),
            k.public_hex,
        )
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add this family's commands to ``app``."""
    app.add_typer(keys_app, name="keys")
