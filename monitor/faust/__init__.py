"""rollguard inside a faust app: one call adds its checks to an existing ``faust.App``.

::

    import faust
    from monitor.faust import FaustSettings, install

    app = faust.App("payments", broker="kafka://kafka-1:9092")
    rollguard = install(app, FaustSettings.from_env(plan_paths=(Path("plans"),)))

``faust -A yourapp worker`` then also runs rollguard: an ingest agent that reads telemetry
and repartitions it by rollout (bad input to the dead-letter topic), an apply agent that
feeds the core and publishes signed commands keyed by rollout, a Table with each rollout's
state (changelog-backed, restored on assignment before any of its events is applied), timers
for checkpoints, silence and status, and on the app's web server ``/rollouts``,
``/rollouts/{id}``, the verdict routes (for every rollout of the fleet, from the status topic
it publishes to and reads, as native workers do), ``/healthz`` and the native worker's
Prometheus metrics. Everything that decides is the
native worker's own code: the routing, envelopes, decoder, limits, silence rule, core,
signing and metrics (``monitor.worker``); only the faust wiring is here.

Needs the ``faust`` extra: ``pip install 'rollguard[faust]'``. What faust's delivery
semantics mean for rollguard's guarantees, and how the adapter keeps them: ``docs/faust.md``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Final

try:
    import faust
    from mode import CrashingSupervisor
except ImportError as exc:  # pragma: no cover - the base install has no faust
    raise ImportError(
        "monitor.faust needs faust-streaming: pip install 'rollguard[faust]'"
    ) from exc

from monitor.core.api import CoreProtocol
from monitor.faust.apply import Applier
from monitor.faust.commits import committer
from monitor.faust.fleet import follow_status
from monitor.faust.ingest import Forwarder
from monitor.faust.settings import FaustSettings
from monitor.faust.starts import StartGate, seek_to_committed, seeker, this_generation
from monitor.faust.state import StateTable
from monitor.faust.web import mount
from monitor.orchestrators.verdict import FLAGGER_PATH, VERDICT_PATH, verdict_handlers
from monitor.status.metrics import StatusCollector
from monitor.status.publisher import COLLECT_EVERY_S, StatusPublisher
from monitor.status.reader import StatusFollower
from monitor.status.routes import ROLLOUT_PATH, ROLLOUTS_PATH, FleetViews, status_handlers
from monitor.status.table import StatusTable
from monitor.worker.cores import product_core
from monitor.worker.envelope import SELF_SOURCE, encode_envelope
from monitor.worker.health import (
    CheckResult,
    Health,
    StageProgress,
    memory_check,
    progress_check,
)
from monitor.worker.http import health_handler, metrics_handler
from monitor.worker.metrics import WorkerMetrics
from monitor.worker.publisher import Publisher
from monitor.worker.routing import Router
from monitor.worker.silence import SilenceWatch
from topics.codec import Decoder, encode_event
from topics.control_plane import ControlPlaneGate
from topics.errors import ConfigError

log = logging.getLogger(__name__)

TABLE_NAME: Final = "rollguard-state"
REPARTITION_RETENTION_S: Final = 2 * 86_400.0  # as the native by_rollout topic


@dataclass
class Rollguard:
    """What :func:`install` added to the app (for tests, and for apps that want to look)."""

    app: Any
    settings: FaustSettings
    core: CoreProtocol
    metrics: WorkerMetrics
    table: StateTable
    applier: Applier
    forwarder: Forwarder
    checks: Health
    repartition_topic: str
    fleet: FleetViews
    """The fleet's status table (every rollout, whoever holds it) and its reader."""
    ready: bool = False
    """The first assignment is settled and its rollouts loaded (``/healthz`` waits for it)."""
    starts: StartGate = field(default_factory=StartGate)
    """Each partition's records from where it was sought to on assignment
    (:mod:`monitor.faust.starts`)."""

    def health(self) -> dict[str, Any]:
        report = self.checks.report(time.monotonic())
        report["partitions"] = sorted(self.applier.owned)
        report["events_applied"] = self.applier.applied
        report["rollouts"] = self.applier.tracked_rollouts()
        return report


class _Driver:
    """The faust app's producer with the ``send`` the native :class:`Publisher` calls
    (aiokafka's keywords): sends bypass faust's topic layer, so ``stream_publish_on_commit``
    can never hold back a command the adapter waits for."""

    def __init__(self, app: Any) -> None:
        self._app = app

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: Any = None,
    ) -> Any:
        return await self._app.producer.send(topic, key, value, partition, None, None)


def install(app: faust.App, settings: FaustSettings, core: CoreProtocol | None = None) -> Rollguard:
    """Add rollguard to ``app`` (before it starts); ``core`` defaults to the product core
    over ``settings.plan_paths``."""
    conf = app.conf
    if conf.web_in_thread:
        raise ConfigError("faust: web_in_thread would serve rollouts from another thread")
    if core is None:
        if not settings.plan_paths:
            raise ConfigError("faust: at least one plan file (plan_paths) is required")
        core = product_core(
            settings.plan_paths,
            default_plan=settings.default_plan,
            monitor_version=settings.monitor_version,
            command_ttl_s=settings.command_ttl_s,
            max_segments=settings.limits.max_segments,
        )
    metrics = WorkerMetrics(settings.worker_id, settings.monitor_version)
    metrics.attach_core(lambda: core, settings.limits.max_series)
    partitions = settings.partitions or conf.topic_partitions
    raw: dict[str, Any] = {  # the producers' own bytes, as the native worker reads them
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    # acks=False: the adapter commits these topics itself (monitor.faust.commits says why)
    telemetry = app.topic(settings.topics.telemetry, acks=False, **raw)
    repartition = app.topic(
        f"{conf.id}-rollguard-by-rollout",
        partitions=partitions,
        internal=True,
        retention=REPARTITION_RETENTION_S,
        acks=False,
        **raw,
    )
    table = StateTable(
        app,
        name=TABLE_NAME,
        default=None,
        partitions=partitions,
        use_partitioner=True,
        help="rollguard: each rollout's core state and marks",
        key_type=bytes,  # bytes: faust's "raw" codec both ways
        value_type=bytes,
        declare_first=repartition,
    )
    app.tables.add(table)
    rollguard = _wire(app, settings, core, metrics, table, repartition.get_topic_name())
    _agents(app, rollguard, telemetry, repartition)
    _timers(app, rollguard)
    _routes(app, rollguard)
    return rollguard


def _wire(
    app: faust.App,
    settings: FaustSettings,
    core: CoreProtocol,
    metrics: WorkerMetrics,
    table: StateTable,
    repartition: str,
) -> Rollguard:
    topics, limits = settings.topics, settings.limits
    driver = _Driver(app)

    def stopping() -> bool:
        return bool(app.should_stop)

    decoder = Decoder(max_future_s=limits.max_clock_skew_s, max_past_s=limits.max_event_age_s)

    def stop_app(exc: BaseException) -> None:
        log.error("rollguard: a forward was not acked (%r); stopping the app", exc)
        asyncio.get_running_loop().create_task(app.crash(exc))

    forwarder = Forwarder(
        router=Router(
            ControlPlaneGate(settings.trusted_keys),
            decoder,
            settings.envelope_max_events,
            limits.reject_clock_skew,
        ),
        publisher=Publisher(driver, settings.signing_key, topics.control, stopping, resend=False),
        metrics=metrics,
        topic=repartition,
        dlq_topic=topics.dlq,
        progress=StageProgress("ingest", time.monotonic()),
        on_error=stop_app,
    )
    applier = Applier(
        core=core,
        table=table,
        publisher=Publisher(driver, settings.signing_key, topics.control, stopping),
        metrics=metrics,
        silence=SilenceWatch(settings.silence_after_s),
        partition_of=lambda rid: int(app.producer.key_partition(repartition, rid.encode())[1]),
        topic=repartition,
        dlq_topic=topics.dlq,
        source_topic=topics.telemetry,
        decoder=decoder,
        reject_clock_skew=limits.reject_clock_skew,
        max_rollouts=limits.max_rollouts,
        progress=StageProgress("apply", time.monotonic()),
        status=StatusPublisher(topics.status, settings.worker_id, settings.signing_key),
    )
    status_table = StatusTable(settings.trusted_keys, settings.status_stale_after_s)
    follower = StatusFollower(None, topics.status, status_table)  # consumer made as it starts
    metrics.registry.register(StatusCollector(status_table, applier.status))
    checks = Health()
    rollguard = Rollguard(
        app,
        settings,
        core,
        metrics,
        table,
        applier,
        forwarder,
        checks,
        repartition,
        FleetViews(status_table, follower),
        starts=StartGate(reseek=seeker(app)),
    )
    checks.add("assigned", lambda now: _assigned(rollguard))
    for stage in (forwarder.progress, applier.progress):
        checks.add(f"{stage.name}_progress", progress_check(stage, limits.health_stall_s))
    if limits.max_rss_mb is not None:
        checks.add("memory", memory_check(limits.max_rss_mb << 20))

    async def on_recovered() -> None:
        rollguard.starts.expect(await seek_to_committed(app, {topics.telemetry, repartition}))
        actives = app.assignor.assigned_actives()
        await applier.on_assigned({tp.partition for tp in actives if tp.topic == repartition})
        rollguard.ready = True

    async def on_revoked(sender: Any, /, *_: Any, signal: Any, **__: Any) -> None:
        forwarder.router.forget_positions()  # reading restarts from the committed offsets
        await applier.on_revoked()

    table.on_recover(on_recovered)
    app.on_partitions_revoked.connect(on_revoked)
    return rollguard


def _assigned(rollguard: Rollguard) -> CheckResult:
    if rollguard.ready:
        return CheckResult(True, f"partitions {sorted(rollguard.applier.owned)} loaded")
    return CheckResult(False, "waiting for the first assignment and the table's recovery")


def _agents(app: faust.App, rollguard: Rollguard, telemetry: Any, repartition: Any) -> None:
    settings, forwarder, applier = rollguard.settings, rollguard.forwarder, rollguard.applier

    commit = committer(app)  # faust's acks are off for these topics: commits.py

    @app.agent(telemetry, name="rollguard-ingest", supervisor_strategy=CrashingSupervisor)
    async def rollguard_ingest(stream: Any) -> None:
        forwarder.commit = commit
        async for taken in stream.noack_take(settings.ingest_max_records, settings.batch_within_s):
            forwarder.progress.turned(time.monotonic())
            if events := await rollguard.starts.admit(this_generation(app, taken, "ingest")):
                await forwarder.forward(events)  # committed once the broker has the forwards

    @app.agent(repartition, name="rollguard-apply", supervisor_strategy=CrashingSupervisor)
    async def rollguard_apply(stream: Any) -> None:
        applier.commit = commit
        async for taken in stream.noack_take(settings.apply_max_records, settings.batch_within_s):
            applier.progress.turned(time.monotonic())
            if events := await rollguard.starts.admit(this_generation(app, taken, "apply")):
                await applier.apply(events)


def _timers(app: faust.App, rollguard: Rollguard) -> None:
    settings, applier, metrics = rollguard.settings, rollguard.applier, rollguard.metrics

    async def rollguard_checkpoint() -> None:
        await applier.checkpoint()  # raises when the changelog refused: the app crashes

    async def rollguard_silence() -> None:
        """A Silence event into the repartition topic for each variant gone quiet: applied
        in log order like any event, so a restore re-applies it at the same place."""
        _note_lag(rollguard)
        async with applier.lock:
            due = applier.silence.due(_proven(rollguard), time.monotonic())
            for event in due:
                envelope = encode_envelope(
                    SELF_SOURCE, [0], [encode_event(event)], 0, event.rollout_id
                )
                key = event.rollout_id.encode()
                await applier.publisher.send(rollguard.repartition_topic, envelope, key)
                metrics.silences.labels(event.rollout_id, event.variant).inc()
        if due:
            await applier.publisher.flush()
        metrics.checkpoint_age.set(time.monotonic() - applier.last_written_s)

    async def rollguard_status() -> None:
        follower = rollguard.fleet.follower
        assert follower is not None
        await follow_status(app, follower, lambda: bool(app.should_stop))

    # called, not decorated: faust types ``App.timer`` as returning a bare Callable
    app.timer(settings.checkpoint_interval_s, name="rollguard-checkpoint")(rollguard_checkpoint)
    app.timer(settings.silence_check_s, name="rollguard-silence")(rollguard_silence)
    app.timer(COLLECT_EVERY_S, name="rollguard-status-publish")(applier.publish_status)
    app.task(rollguard_status)


def _proven(rollguard: Rollguard) -> float | None:
    """Up to when the input is known to be applied (monotonic clock), for the silence rule:
    now, when the app holds its partitions and both agents have read to the end of what the
    broker last reported; None otherwise (no silence is raised while the app lags). Weaker
    than the native worker's proof (``monitor.worker.reading``): ``docs/faust.md``."""
    applier, forwarder = rollguard.applier, rollguard.forwarder
    if not rollguard.ready or applier.progress.lag or forwarder.progress.lag:
        return None
    return time.monotonic()


def _note_lag(rollguard: Rollguard) -> None:
    """Messages behind the end of each assigned partition the agents read (metrics, and
    what ``/healthz`` calls waiting)."""
    app = rollguard.app
    consumer = app.consumer
    waiting = {"ingest": 0, "apply": 0}
    telemetry = rollguard.settings.topics.telemetry
    for tp in app.assignor.assigned_actives():
        if tp.topic not in (telemetry, rollguard.repartition_topic):
            continue
        highwater = consumer.highwater(tp)
        position = rollguard.applier.positions.get(tp) or rollguard.forwarder.positions.get(tp)
        if highwater is None or position is None:
            continue
        lag = max(0, highwater - position)
        rollguard.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)
        waiting["ingest" if tp.topic == telemetry else "apply"] += lag
    rollguard.forwarder.progress.lag = waiting["ingest"]
    rollguard.applier.progress.lag = waiting["apply"]


def _routes(app: faust.App, rollguard: Rollguard) -> None:
    settings, fleet = rollguard.settings, rollguard.fleet
    argo, flagger = verdict_handlers(fleet, token=settings.http_token)
    listing, one = status_handlers(fleet, settings.http_token)
    mount(app, settings.metrics_path, "get", metrics_handler(rollguard.metrics), "rg-metrics")
    mount(app, "/healthz", "get", health_handler(rollguard.health), "rg-healthz")
    mount(app, ROLLOUTS_PATH, "get", listing, "rg-rollouts")
    mount(app, ROLLOUT_PATH, "get", one, "rg-rollout")
    mount(app, VERDICT_PATH, "get", argo, "rg-verdict")
    mount(app, FLAGGER_PATH, "post", flagger, "rg-flagger")


__all__ = ["FaustSettings", "Rollguard", "install"]
