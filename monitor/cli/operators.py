"""Human controls that do not depend on the workers: ``kill``, ``resume``, ``signoff``
(and the options and checks they share with ``tail`` and ``export``, :mod:`.evidence`).

``kill``, ``resume`` and ``signoff`` sign with the person's *operator* key (``--key FILE``,
else ``ROLLGUARD_OPERATOR_KEY_FILE``): commands go straight to the control topic, and the
lifecycle ``plan`` event (or the sign-off) to telemetry, signed as well, so the core learns
what a human did. ``tail`` and ``export`` verify with the trusted key ring
(``--trusted-keys`` / ``ROLLGUARD_TRUSTED_KEYS_FILE``): a named ring that cannot be loaded
is an error, not a quiet switch to unverified output. Kafka security (SASL/TLS) comes from
``ROLLGUARD_KAFKA_*`` (see :mod:`monitor.edge.kafka_options`), with flags for the non-secret
parts.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from rich.console import Console
from rich.markup import escape

from monitor.cli.common import BootstrapOption, PrefixOption, err_console, fail, resolve_bootstrap
from topics.config import TopicsConfig
from topics.errors import ConfigError
from topics.keys import KeyRing, SigningKey

ROLLOUT_RE: Final = re.compile(r"^[A-Za-z0-9_.:/@+-]{1,128}$")

KeyOption = Annotated[
    Path | None,
    typer.Option(
        "--key",
        envvar="ROLLGUARD_OPERATOR_KEY_FILE",
        help="Your operator signing key (JSON, mode 0600; `rollguard keys generate --role "
        "operator`).",
    ),
]
TrustedKeysOption = Annotated[
    Path | None,
    typer.Option(
        "--trusted-keys",
        envvar="ROLLGUARD_TRUSTED_KEYS_FILE",
        help="Trusted key ring (public keys) to verify with. Without one nothing is verified.",
    ),
]
SecurityProtocolOption = Annotated[
    str | None,
    typer.Option(
        "--kafka-security-protocol",
        help="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (else ROLLGUARD_KAFKA_SECURITY_PROTOCOL).",
    ),
]
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Skip the check of the rollout (stage, role) against the fleet's status topic.",
    ),
]
ByOption = Annotated[
    str | None,
    typer.Option("--by", help="Who is acting; must be the holder of --key (default: it is)."),
]


def require_known(
    servers: str,
    topics: TopicsConfig,
    options: dict[str, Any],
    rollout: str,
    *,
    force: bool,
    stage: str | None = None,
    role: str | None = None,
) -> None:
    """Refuse a rollout (stage, role) the fleet's status topic does not know, unless forced."""
    if force:
        return
    from monitor.operators.known import Refused, check_rollout, check_signoff, fleet_table

    try:
        table = fleet_table(servers, topics.status, options)
        if stage is not None and role is not None:
            check_signoff(table, rollout, stage, role)
        else:
            check_rollout(table, rollout)
    except Refused as exc:
        fail(f"refused: {exc}; --force to act anyway", code=1)
    except Exception as exc:  # no status topic, broker away: say so, do nothing
        fail(f"cannot check the rollout against the status topic ({exc}); --force to skip")


def console_out() -> Console:
    return Console(highlight=False, soft_wrap=True)


def kafka_options_from(security_protocol: str | None) -> dict[str, Any]:
    from monitor.edge.kafka_options import KafkaSecurity

    try:
        security = KafkaSecurity.from_env().with_overrides(security_protocol=security_protocol)
    except ConfigError as exc:
        fail(str(exc))
    return security.kafka_python()


def _rollout_target(rollout: str | None, all_rollouts: bool) -> str:
    if all_rollouts == (rollout is not None):
        fail("name one rollout, or pass --all")
    if rollout is not None and not ROLLOUT_RE.fullmatch(rollout):
        fail(f"rollout id {rollout!r}: expected [A-Za-z0-9_.:/@+-], at most 128 characters")
    return rollout or "*"


def _operator_key(key_path: Path | None, by: str | None) -> SigningKey:
    from monitor.orchestrators.keyfiles import operator_key

    try:
        key = operator_key(key_path)
    except ConfigError as exc:
        fail(str(exc))
    if by is not None and by != key.name:
        fail(f"--by {by!r}: the key {key.key_id!r} belongs to {key.name!r}; sign with your own key")
    return key


def trusted_ring(path: Path | None) -> KeyRing | None:
    """The ring named by ``--trusted-keys`` or the environment; None when none is named.
    A named ring that cannot be used stops the command (never a quiet unverified run)."""
    from topics.keyfiles import ring_from

    try:
        return ring_from(path)
    except ConfigError as exc:
        fail(f"trusted keys: {exc}")


def _operator_command(
    action: str,
    rollout: str | None,
    all_rollouts: bool,
    reason: str,
    by: str | None,
    stage: str,
    ttl_s: float,
    key_path: Path | None,
    bootstrap: str,
    prefix: str,
    security_protocol: str | None,
    force: bool = False,
) -> None:
    from monitor import __version__
    from monitor.operators.controls import (
        PLAN_ACTION_OF,
        lifecycle_event,
        operator_command,
        producer,
        publish_command,
        publish_event,
    )

    target = _rollout_target(rollout, all_rollouts)
    key = _operator_key(key_path, by)
    if not 0 < ttl_s <= 86_400:
        fail("--ttl must be between 0 and 86400 seconds")
    topics = TopicsConfig().with_prefix(prefix)
    servers = resolve_bootstrap(bootstrap)
    options = kafka_options_from(security_protocol)
    require_known(servers, topics, options, target, force=force)
    command = operator_command(
        key,
        rollout_id=target,
        action=action,  # type: ignore[arg-type]  # "halt" or "resume": its only callers
        reason=reason,
        stage=stage,
        ttl_s=ttl_s,
        monitor_version=__version__,
    )
    try:
        with producer(servers, options) as prod:
            meta = publish_command(prod, topics.control, command)
    except Exception as exc:  # the Kafka client's many error types: one clear message
        fail(f"{action.upper()} NOT PUBLISHED: {kafka_error(exc)}", code=1)
    from monitor.operators.tail import ACTION_STYLE

    out = console_out()
    out.print(
        f"[{ACTION_STYLE[action]}]{action.upper()}[/] published: rollout={escape(target)} "
        f"command_id={command.command_id} key_id={command.key_id} "
        f"topic={topics.control}[{meta.partition}]@{meta.offset} expires in {ttl_s:.0f} s"
    )
    # Then tell the core (best effort: the command above is what orchestrators obey).
    rollouts = [target] if target != "*" else _known_rollouts(servers, topics, options)
    try:
        with producer(servers, options) as prod:
            for rollout_id in rollouts:
                event = lifecycle_event(
                    key,
                    rollout_id,
                    PLAN_ACTION_OF[action],
                    command.issued_at,
                    stage=None if stage == "*" else stage,
                )
                publish_event(prod, topics.telemetry, event)
    except Exception as exc:  # best effort, said loudly
        err_console.print(f"[yellow]warning:[/] lifecycle event not recorded on telemetry: {exc}")
        return
    out.print(f"recorded plan action={PLAN_ACTION_OF[action]} for {len(rollouts)} rollout(s)")


def kafka_error(exc: Exception) -> str:
    """A Kafka client's exception as one line (kafka-python repeats its class name)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if text.startswith(type(exc).__name__) else f"{type(exc).__name__}: {text}"


def _known_rollouts(servers: str, topics: TopicsConfig, options: dict[str, Any]) -> list[str]:
    """Rollouts that have a command on the control topic (the compacted topic keeps the
    latest per rollout): the ones a kill-all must tell the core about."""
    from monitor.orchestrators.checks import read_command
    from monitor.orchestrators.reader import read_topic
    from topics.commands import Command

    found: set[str] = set()
    for msg in read_topic(servers, topics.control, kafka_options=options):
        command = read_command(msg.value)  # never raises; unreadable messages are skipped
        if isinstance(command, Command):
            found.add(command.rollout_id)
    found.discard("*")
    return sorted(found)


def register(app: typer.Typer) -> None:
    """Add this family's commands to ``app``."""

    @app.command("kill")
    def kill(
        rollout: Annotated[str | None, typer.Argument(help="Rollout to halt.")] = None,
        all_rollouts: Annotated[bool, typer.Option("--all", help="Halt every rollout.")] = False,
        reason: Annotated[str, typer.Option("--reason", "-r", help="Why.")] = "manual kill",
        by: ByOption = None,
        stage: Annotated[str, typer.Option(help="Stage, if known.")] = "*",
        ttl: Annotated[float, typer.Option(help="Seconds the command stays valid.")] = 3600.0,
        key: KeyOption = None,
        bootstrap: BootstrapOption = "",
        prefix: PrefixOption = "rollguard",
        kafka_security_protocol: SecurityProtocolOption = None,
        force: ForceOption = False,
    ) -> None:
        """HALT a rollout (or --all) now, straight to the control topic; needs no worker."""
        _operator_command(
            "halt", rollout, all_rollouts, reason, by, stage, ttl, key, bootstrap, prefix,
            kafka_security_protocol, force,
        )  # fmt: skip

    @app.command("resume")
    def resume(
        rollout: Annotated[str | None, typer.Argument(help="Rollout to resume.")] = None,
        all_rollouts: Annotated[bool, typer.Option("--all", help="Resume every rollout.")] = False,
        reason: Annotated[str, typer.Option("--reason", "-r", help="Why.")] = "manual resume",
        by: ByOption = None,
        stage: Annotated[str, typer.Option(help="Stage, if known.")] = "*",
        ttl: Annotated[float, typer.Option(help="Seconds the command stays valid.")] = 3600.0,
        key: KeyOption = None,
        bootstrap: BootstrapOption = "",
        prefix: PrefixOption = "rollguard",
        kafka_security_protocol: SecurityProtocolOption = None,
        force: ForceOption = False,
    ) -> None:
        """Resume a paused, frozen or halted rollout (signed operator command)."""
        _operator_command(
            "resume", rollout, all_rollouts, reason, by, stage, ttl, key, bootstrap, prefix,
            kafka_security_protocol, force,
        )  # fmt: skip

    @app.command("signoff")
    def signoff(
        rollout: Annotated[str, typer.Option("--rollout", help="Rollout id.")],
        stage: Annotated[str, typer.Option("--stage", help="Stage whose promotion is approved.")],
        role: Annotated[str, typer.Option("--role", help="cto, coo, compliance, ...")],
        by: ByOption = None,
        note: Annotated[str | None, typer.Option(help="Free text.")] = None,
        key: KeyOption = None,
        trusted_keys: TrustedKeysOption = None,
        bootstrap: BootstrapOption = "",
        prefix: PrefixOption = "rollguard",
        kafka_security_protocol: SecurityProtocolOption = None,
        force: ForceOption = False,
    ) -> None:
        """Record your signed sign-off of a stage promotion; promotions needing the role wait."""
        from monitor.operators.controls import producer, publish_event, signoff_event
        from topics.authority import event_problem
        from topics.codec import Decoder, encode_event
        from topics.control_plane import event_document

        signer = _operator_key(key, by)
        event = signoff_event(signer, rollout, stage, role, time.time(), note)
        dead = Decoder().decode(encode_event(event)).dead  # validate as the workers will
        if dead:
            fail(f"invalid sign-off: {dead[0].message}")
        ring = trusted_ring(trusted_keys)
        entry = ring.get(signer.key_id) if ring is not None else None
        if ring is not None and entry is None:
            fail(f"key {signer.key_id!r} is not in the trusted ring: workers would refuse it")
        if entry is not None and (problem := event_problem(event_document(event), entry)):
            fail(f"workers would refuse this sign-off: {problem}")
        topics = TopicsConfig().with_prefix(prefix)
        servers = resolve_bootstrap(bootstrap)
        options = kafka_options_from(kafka_security_protocol)
        require_known(servers, topics, options, rollout, force=force, stage=stage, role=role)
        try:
            with producer(servers, options) as prod:
                meta = publish_event(prod, topics.telemetry, event)
        except Exception as exc:  # the Kafka client's many error types: one clear message
            fail(f"sign-off NOT recorded: {kafka_error(exc)}", code=1)
        console_out().print(
            f"sign-off recorded: rollout={escape(rollout)} stage={escape(stage)} "
            f"role={escape(role)} by={escape(event.by)} key_id={signer.key_id} "
            f"({topics.telemetry}[{meta.partition}]@{meta.offset})"
        )
