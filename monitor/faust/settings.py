"""What :func:`monitor.faust.install` is configured with, checked once when it is called.

The faust app brings its own broker, consumer group (its ``id``), web server and producer;
these settings are rollguard's part only. Durations in seconds unless the name says otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from monitor import __version__
from monitor.status.table import STALE_AFTER_S
from monitor.worker.limits import WorkerLimits
from monitor.worker.settings import default_worker_id
from topics.config import TopicsConfig
from topics.errors import ConfigError
from topics.keyfiles import ENV_SIGNING_KEY_FILE, ring_from, signing_key_from
from topics.keys import KeyRing, SigningKey


@dataclass(frozen=True)
class FaustSettings:
    """rollguard inside a faust app.

    ``topics`` names the topics rollguard shares with the rest of the fleet: ``telemetry``
    (read), ``control`` and ``dlq`` (written). Its internal topics are the app's own, named
    after the app's id as faust names its internals: ``{id}-rollguard-by-rollout`` (the
    repartition by rollout) and ``{id}-rollguard-state-changelog`` (the state table's).
    """

    signing_key: SigningKey
    """The worker fleet's private key: signs every decision (a ``worker`` key)."""
    trusted_keys: KeyRing
    """Public keys: control-plane events on telemetry count only when an operator key of
    this ring signed them (``topics.control_plane``)."""
    plan_paths: tuple[Path, ...] = ()
    topics: TopicsConfig = field(default_factory=TopicsConfig)
    partitions: int | None = None
    """Partitions of the repartition topic and of the state table (they must be equal, and
    fixed for the life of the app: a rollout's partition is its key's hash modulo this).
    None: the app's ``topic_partitions``."""
    worker_id: str = field(default_factory=default_worker_id)
    checkpoint_interval_s: float = 2.0
    """Each rollout's changed state goes to the table this often; input is acked (and so
    committed by faust) only once the state that applied it is in the table's changelog."""
    silence_after_s: float = 30.0
    silence_check_s: float = 1.0
    status_stale_after_s: float = STALE_AFTER_S
    """A rollout whose owner has not confirmed its status for this long reads stale
    (inconclusive, never a pass) on every worker's verdict routes, as in the native fleet."""
    command_ttl_s: float = 300.0
    ingest_max_records: int = 1000
    """Telemetry messages routed at a time (``Stream.take_events``)."""
    apply_max_records: int = 200
    """Repartition records applied at a time (``Stream.noack_take``)."""
    batch_within_s: float = 0.1
    """How long a batch waits to fill up: the latency a lone message may add per stage.
    Each ingest batch is one record per rollout on the repartition topic, which faust then
    delivers one by one beside the telemetry: 20 ms made ~4 records of ~6 events per 10
    telemetry messages under load; 100 ms makes batches of hundreds."""
    envelope_max_events: int = 1000
    limits: WorkerLimits = field(default_factory=WorkerLimits)
    """Clock skew, rollouts, segments, series, health (``docs/security.md``); the HTTP
    limits are the faust web server's own, not these."""
    default_plan: str | None = None
    http_token: str | None = field(default=None, repr=False)
    """Bearer token the verdict routes require (as ``rollguard worker --http-token``)."""
    metrics_path: str = "/metrics"
    """Where rollguard's Prometheus metrics are served; move it if the app serves faust's
    own Prometheus sensor on ``/metrics``."""
    monitor_version: str = __version__

    def __post_init__(self) -> None:
        if self.signing_key.role != "worker":
            raise ConfigError(
                f"faust: key {self.signing_key.key_id!r} is an {self.signing_key.role} key; "
                "rollguard signs decisions with a worker key"
            )
        if self.checkpoint_interval_s <= 0 or self.silence_check_s <= 0:
            raise ConfigError("faust: checkpoint and silence check intervals must be > 0")
        if self.silence_after_s <= 0:
            raise ConfigError("faust: silence_after_s must be > 0")
        if self.status_stale_after_s < 2.0:
            raise ConfigError("faust: status_stale_after_s must be >= 2 (owners beat every 1 s)")
        if self.partitions is not None and self.partitions < 1:
            raise ConfigError("faust: partitions must be >= 1")
        if min(self.ingest_max_records, self.apply_max_records, self.envelope_max_events) < 1:
            raise ConfigError("faust: batch sizes must be >= 1")
        if self.batch_within_s <= 0:
            raise ConfigError("faust: batch_within_s must be > 0")
        if not self.metrics_path.startswith("/"):
            raise ConfigError(f"faust: metrics_path must start with '/', got {self.metrics_path!r}")

    @classmethod
    def from_env(cls, plan_paths: tuple[Path, ...] = (), **overrides: object) -> FaustSettings:
        """Settings from the environment a ``rollguard worker`` reads: its signing key
        (``ROLLGUARD_SIGNING_KEY_FILE``) and the trusted ring (``ROLLGUARD_TRUSTED_KEYS_FILE``),
        the topic prefix (``ROLLGUARD_TOPIC_PREFIX``), the verdict token
        (``ROLLGUARD_HTTP_TOKEN``), the silence threshold (``ROLLGUARD_SILENCE_AFTER_S``), the
        checkpoint interval (``ROLLGUARD_CHECKPOINT_INTERVAL_S``), the status staleness bound
        (``ROLLGUARD_STATUS_STALE_AFTER_S``); ``overrides`` win."""
        env = os.environ
        key = signing_key_from(None, ENV_SIGNING_KEY_FILE, "worker", env)
        ring = ring_from(None, env)
        if key is None or ring is None:
            raise ConfigError(
                "faust: rollguard needs its signing key (ROLLGUARD_SIGNING_KEY_FILE) and the "
                "trusted key ring (ROLLGUARD_TRUSTED_KEYS_FILE); `rollguard keys generate` "
                "makes both"
            )
        options: dict[str, object] = {
            "signing_key": key,
            "trusted_keys": ring,
            "plan_paths": plan_paths,
        }
        prefix = env.get("ROLLGUARD_TOPIC_PREFIX")
        if prefix:
            options["topics"] = TopicsConfig().with_prefix(prefix)
        if env.get("ROLLGUARD_HTTP_TOKEN"):
            options["http_token"] = env["ROLLGUARD_HTTP_TOKEN"]
        for name, option in (
            ("ROLLGUARD_SILENCE_AFTER_S", "silence_after_s"),
            ("ROLLGUARD_CHECKPOINT_INTERVAL_S", "checkpoint_interval_s"),
            ("ROLLGUARD_STATUS_STALE_AFTER_S", "status_stale_after_s"),
        ):
            if env.get(name):
                try:
                    options[option] = float(env[name])
                except ValueError as exc:
                    raise ConfigError(f"{name}: expected seconds, got {env[name]!r}") from exc
        options.update(overrides)
        return cls(**options)  # type: ignore[arg-type]  # checked by __post_init__
