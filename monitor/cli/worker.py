"""``rollguard worker``: run one stream worker of the fleet (scale out by starting more).

Every option has an environment variable (``ROLLGUARD_*``, the option's name in capitals:
``--kafka-sasl-username`` is ``ROLLGUARD_KAFKA_SASL_USERNAME``); an optional YAML file
(``--config``) supplies defaults for the same names (``bootstrap``, ``plans``, ``group``,
``http_port``, ...). Precedence: command line > environment > file > built-in default.
Secrets never come from the command line: the signing key from a file
(``--signing-key`` / ``ROLLGUARD_SIGNING_KEY_FILE``); the SASL password and HTTP token from the
environment or file. The trusted key ring (``--trusted-keys`` / ``ROLLGUARD_TRUSTED_KEYS_FILE``,
public keys) says which operators may sign plan and sign-off events.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from monitor.cli.common import BootstrapOption, PrefixOption, fail, old_name, resolve_bootstrap
from topics.errors import ConfigError

if TYPE_CHECKING:
    from monitor.worker.limits import WorkerLimits
    from monitor.worker.settings import WorkerSettings


def _opt(envvar: str, help_: str, *names: str) -> Any:
    return typer.Option(*names, envvar=envvar, help=help_)


def worker(
    bootstrap: BootstrapOption = "",
    topic_prefix: PrefixOption = "",
    plan: Annotated[
        list[Path] | None,
        _opt("ROLLGUARD_PLANS", "Rollout plan / rule file (repeat for several).", "--plan", "-p"),
    ] = None,
    signing_key: Annotated[
        Path | None,
        _opt(
            "ROLLGUARD_SIGNING_KEY_FILE",
            "The fleet's private worker key (JSON, mode 0600; `rollguard keys generate`).",
            "--signing-key",
        ),
    ] = None,
    trusted_keys: Annotated[
        Path | None,
        _opt(
            "ROLLGUARD_TRUSTED_KEYS_FILE",
            "Trusted key ring (public keys): operators who may sign plan and sign-off events.",
            "--trusted-keys",
        ),
    ] = None,
    default_plan: Annotated[
        str | None,
        _opt(
            "ROLLGUARD_DEFAULT_PLAN",
            "Plan for rollouts seen before their `registered` event.",
            "--default-plan",
        ),
    ] = None,
    config: Annotated[
        Path | None, _opt("ROLLGUARD_WORKER_CONFIG", "Optional YAML settings.", "--config")
    ] = None,
    group: Annotated[
        str | None, _opt("ROLLGUARD_GROUP", "Consumer group prefix of the fleet.", "--group")
    ] = None,
    worker_id: Annotated[
        str | None,
        _opt("ROLLGUARD_WORKER_ID", "This worker's id (default host-pid).", "--worker-id"),
    ] = None,
    http_host: Annotated[
        str | None, _opt("ROLLGUARD_HTTP_HOST", "HTTP bind address.", "--http-host")
    ] = None,
    http_port: Annotated[
        int | None, _opt("ROLLGUARD_HTTP_PORT", "HTTP port (0: any free port).", "--http-port")
    ] = None,
    checkpoint_interval: Annotated[
        float | None,
        _opt(
            "ROLLGUARD_CHECKPOINT_INTERVAL_S",
            "Seconds between checkpoints.",
            "--checkpoint-interval",
        ),
    ] = None,
    silence_after: Annotated[
        float | None,
        _opt(
            "ROLLGUARD_SILENCE_AFTER_S",
            "Flag a variant silent after this many seconds of input the worker proves it read "
            "(an outage does not count; docs/outages.md).",
            "--silence-after",
        ),
    ] = None,
    status_stale_after: Annotated[
        float | None,
        _opt(
            "ROLLGUARD_STATUS_STALE_AFTER_S",
            "Answer inconclusive for a rollout whose owner has not confirmed its status "
            "for this long.",
            "--status-stale-after",
        ),
    ] = None,
    reject_clock_skew: Annotated[
        bool | None,
        _opt(
            "ROLLGUARD_REJECT_CLOCK_SKEW",
            "Dead-letter events stamped ahead of this host's clock (default on; "
            "--accept-any-time only to replay a recording stamped in the future).",
            "--reject-clock-skew/--accept-any-time",
        ),
    ] = None,
    max_clock_skew: Annotated[
        float | None,
        _opt(
            "ROLLGUARD_MAX_CLOCK_SKEW_S",
            "Seconds an event may be stamped ahead of this host's clock (default 2).",
            "--max-clock-skew",
        ),
    ] = None,
    max_event_age: Annotated[
        float | None,
        _opt(
            "ROLLGUARD_MAX_EVENT_AGE_S",
            "Also dead-letter events older than this many seconds (default: any age).",
            "--max-event-age",
        ),
    ] = None,
    max_rollouts: Annotated[
        int | None,
        _opt(
            "ROLLGUARD_MAX_ROLLOUTS", "Rollouts one worker tracks (default 1000).", "--max-rollouts"
        ),
    ] = None,
    max_segments: Annotated[
        int | None,
        _opt(
            "ROLLGUARD_MAX_SEGMENTS",
            "Segment label sets per rollout (default 64).",
            "--max-segments",
        ),
    ] = None,
    max_series: Annotated[
        int | None,
        _opt(
            "ROLLGUARD_MAX_SERIES",
            "Per-rollout series on /metrics (default 20000).",
            "--max-series",
        ),
    ] = None,
    health_stall: Annotated[
        float | None,
        _opt(
            "ROLLGUARD_HEALTH_STALL_S",
            "/healthz fails after this many seconds without progress (default 30).",
            "--health-stall",
        ),
    ] = None,
    max_rss_mb: Annotated[
        int | None,
        _opt(
            "ROLLGUARD_MAX_RSS_MB",
            "/healthz fails above this resident memory, MiB (default: not checked).",
            "--max-rss-mb",
        ),
    ] = None,
    http_max_connections: Annotated[
        int | None,
        _opt(
            "ROLLGUARD_HTTP_MAX_CONNECTIONS",
            "Open HTTP connections at most (default 256).",
            "--http-max-connections",
        ),
    ] = None,
    security_protocol: Annotated[
        str | None,
        _opt(
            "ROLLGUARD_KAFKA_SECURITY_PROTOCOL",
            "PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL.",
            "--kafka-security-protocol",
        ),
    ] = None,
    sasl_mechanism: Annotated[
        str | None,
        _opt("ROLLGUARD_KAFKA_SASL_MECHANISM", "PLAIN|SCRAM-SHA-256|...", "--kafka-sasl-mechanism"),
    ] = None,
    sasl_username: Annotated[
        str | None, _opt("ROLLGUARD_KAFKA_SASL_USERNAME", "SASL user.", "--kafka-sasl-username")
    ] = None,
    ssl_cafile: Annotated[
        str | None, _opt("ROLLGUARD_KAFKA_SSL_CAFILE", "CA bundle.", "--kafka-ssl-cafile")
    ] = None,
    ssl_certfile: Annotated[
        str | None,
        _opt("ROLLGUARD_KAFKA_SSL_CERTFILE", "Client certificate.", "--kafka-ssl-certfile"),
    ] = None,
    ssl_keyfile: Annotated[
        str | None, _opt("ROLLGUARD_KAFKA_SSL_KEYFILE", "Client key.", "--kafka-ssl-keyfile")
    ] = None,
    old_security_protocol: Annotated[str | None, old_name("--security-protocol")] = None,
    old_sasl_mechanism: Annotated[str | None, old_name("--sasl-mechanism")] = None,
    old_sasl_username: Annotated[str | None, old_name("--sasl-username")] = None,
    old_ssl_cafile: Annotated[str | None, old_name("--ssl-cafile")] = None,
    old_ssl_certfile: Annotated[str | None, old_name("--ssl-certfile")] = None,
    old_ssl_keyfile: Annotated[str | None, old_name("--ssl-keyfile")] = None,
    grafana_url: Annotated[
        str | None,
        _opt(
            "ROLLGUARD_GRAFANA_URL",
            "Post each decision as a Grafana annotation (token: ROLLGUARD_GRAFANA_TOKEN).",
            "--grafana-url",
        ),
    ] = None,
    core_factory: Annotated[
        str | None,
        _opt(
            "ROLLGUARD_CORE_FACTORY", "module:callable building the core (tests).", "--core-factory"
        ),
    ] = None,
    log_level: Annotated[
        str, _opt("ROLLGUARD_LOG_LEVEL", "Logging level.", "--log-level")
    ] = "INFO",
) -> None:
    """Run a stream worker: telemetry in, signed decisions out, state checkpointed."""
    # the worker stack (aiokafka, aiohttp) loads only when this command runs, not for --help
    from monitor.edge.kafka_options import KafkaSecurity
    from monitor.worker.run import run_worker
    from monitor.worker.settings import WorkerSettings
    from topics.config import TopicsConfig
    from topics.keyfiles import load_ring, load_signing_key, refuse_legacy_env

    security_protocol = security_protocol or old_security_protocol
    sasl_mechanism = sasl_mechanism or old_sasl_mechanism
    sasl_username = sasl_username or old_sasl_username
    ssl_cafile = ssl_cafile or old_ssl_cafile
    ssl_certfile = ssl_certfile or old_ssl_certfile
    ssl_keyfile = ssl_keyfile or old_ssl_keyfile
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        file = _load_file(config)
        pick = _picker(file)
        prefix = topic_prefix or str(file.get("topic_prefix", ""))
        topics = TopicsConfig().with_prefix(prefix) if prefix else TopicsConfig()
        plans = plan or [Path(p) for p in file.get("plans", [])]
        refuse_legacy_env()
        key_path = signing_key or file.get("signing_key")
        ring_path = trusted_keys or file.get("trusted_keys")
        if not key_path or not ring_path:
            raise ConfigError(
                "worker: needs its signing key (--signing-key / ROLLGUARD_SIGNING_KEY_FILE) and "
                "the trusted key ring (--trusted-keys / ROLLGUARD_TRUSTED_KEYS_FILE); "
                "`rollguard keys generate` makes both"
            )
        security = KafkaSecurity.from_env(
            defaults={name: file.get(name) for name in _SECURITY_FILE_KEYS},
            overrides={
                "security_protocol": security_protocol,
                "sasl_mechanism": sasl_mechanism,
                "sasl_username": sasl_username,
                "ssl_cafile": ssl_cafile,
                "ssl_certfile": ssl_certfile,
                "ssl_keyfile": ssl_keyfile,
            },
        )
        extra: dict[str, Any] = {}
        if worker_id or file.get("worker_id"):
            extra["worker_id"] = pick(worker_id, "worker_id", "")
        settings = WorkerSettings(
            bootstrap=resolve_bootstrap(bootstrap or str(file.get("bootstrap", "")), probe=False),
            signing_key=load_signing_key(key_path, "worker"),
            trusted_keys=load_ring(ring_path),
            topics=topics,
            plan_paths=tuple(plans),
            core_factory=pick(core_factory, "core_factory", None),
            default_plan=pick(default_plan, "default_plan", None),
            group=pick(group, "group", "rollguard"),
            security=security,
            http_host=pick(http_host, "http_host", "127.0.0.1"),
            http_port=int(pick(http_port, "http_port", 8080)),
            http_token=os.environ.get("ROLLGUARD_HTTP_TOKEN") or file.get("http_token"),
            checkpoint_interval_s=float(pick(checkpoint_interval, "checkpoint_interval_s", 5.0)),
            silence_after_s=float(pick(silence_after, "silence_after_s", 30.0)),
            limits=_limits(
                pick,
                reject_clock_skew=reject_clock_skew,
                max_clock_skew_s=max_clock_skew,
                max_event_age_s=max_event_age,
                max_rollouts=max_rollouts,
                max_segments=max_segments,
                max_series=max_series,
                health_stall_s=health_stall,
                max_rss_mb=max_rss_mb,
                http_max_connections=http_max_connections,
            ),
            status_stale_after_s=float(pick(status_stale_after, "status_stale_after_s", 5.0)),
            grafana_url=pick(grafana_url, "grafana_url", None),
            grafana_token=os.environ.get("ROLLGUARD_GRAFANA_TOKEN") or file.get("grafana_token"),
            **extra,
        )
    except ConfigError as exc:
        fail(str(exc))
    _warn_if_unverifiable(settings)
    run_worker(settings)


def _limits(pick: Any, **given: Any) -> WorkerLimits:
    """The limits from options, the settings file (same names), else their defaults."""
    from monitor.worker.limits import HttpLimits, WorkerLimits

    chosen = {name: pick(value, name, None) for name, value in given.items()}
    http = chosen.pop("http_max_connections")
    kept = {name: value for name, value in chosen.items() if value is not None}
    return WorkerLimits(**kept, http=HttpLimits(max_connections=int(http or 256)))


def _warn_if_unverifiable(settings: WorkerSettings) -> None:
    """Orchestrators holding the same ring would refuse every decision of this worker."""
    key, ring = settings.signing_key, settings.trusted_keys
    entry = ring.get(key.key_id)
    if entry is None or entry.public_key != key.public_key or entry.role != "worker":
        logging.getLogger("rollguard.worker").warning(
            "the signing key %r is not the worker key of that id in the trusted ring: "
            "orchestrators verifying with this ring will refuse this worker's commands",
            key.key_id,
        )


def _load_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    import yaml

    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read worker settings: {exc.strerror}") from None
    except yaml.YAMLError as exc:  # its text quotes the line, which may hold a secret
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings")
    return raw


_SECURITY_FILE_KEYS = (
    "security_protocol",
    "sasl_mechanism",
    "sasl_username",
    "sasl_password",
    "ssl_cafile",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_key_password",
    "ssl_check_hostname",
)
"""Kafka security settings a worker's settings file may hold (the environment and the
command line win over it; ``monitor.edge.kafka_options``)."""


def _picker(file: dict[str, Any]) -> Any:
    def pick(given: Any, name: str, default: Any) -> Any:
        if given is not None:
            return given
        return file.get(name, default)

    return pick


def register(app: typer.Typer) -> None:
    """Add this family's commands to ``app``."""
    app.command("worker")(worker)
