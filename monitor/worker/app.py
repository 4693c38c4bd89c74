"""The stream worker, built in a factory from :class:`~monitor.worker.settings.WorkerSettings`.

Nothing happens at import time; :func:`create_worker` wires the parts, :meth:`Worker.run`
starts them in a fixed order and stops them in reverse.

Why faust's driver (aiokafka) and not faust's agents. This worker runs on the stack
faust-streaming is built on — aiokafka consumers and an idempotent producer — without faust's
App/agent layer, for three measured or read reasons:

1. cost: faust's per-message machinery is ~80 µs of CPU per message (a do-nothing agent tops
   out near 13k messages/s here; ``tests/bench/worker/throughput.py`` prints it), while
   ``getmany`` + decode runs at hundreds of thousands per second;
2. recovery: our correctness rests on "restore checkpoint → seek to its offset → resume" in
   one rebalance callback. faust's consumer keeps its own read offsets, acks, gap tracking
   and commits (``faust/transport/consumer.py``: ``_read_offset``, ``_add_gap``,
   ``seek_to_committed`` on assignment) and restores tables from its own changelogs; we
   persist our own state explicitly instead of trusting a framework's after a rebalance,
   and seeking under faust's bookkeeping would be exactly that;
3. the two stages need group offsets committed only after the broker acked the outputs,
   which aiokafka's manual ``commit`` with a ``ConsumerRebalanceListener`` gives directly.

So the ingest stage (``monitor.worker.ingest``) and the processor (``monitor.worker.processor``)
are plain aiokafka loops: the same driver faust uses, with the rebalance hooks it documents.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from monitor.core.api import CoreProtocol
from monitor.edge.clients import Client, Reader
from monitor.edge.logs import dropped_log_lines
from monitor.status.metrics import StatusCollector
from monitor.status.publisher import SignedHere, StatusPublisher
from monitor.status.reader import StatusFollower, status_consumer
from monitor.status.routes import FleetViews
from monitor.status.table import StatusTable
from monitor.worker.checkpoint import CheckpointStore
from monitor.worker.cores import build_core
from monitor.worker.health import (
    Health,
    failures_check,
    loop_check,
    memory_check,
    progress_check,
)
from monitor.worker.http import build_web_app
from monitor.worker.ingest import IngestListener, IngestStage
from monitor.worker.metrics import WorkerMetrics
from monitor.worker.processor import Processor
from monitor.worker.producer import WatchedProducer
from monitor.worker.publisher import Publisher
from monitor.worker.reading import AdminClient, OutageMetrics, ReadingWatch, excusing_outages
from monitor.worker.server import serve
from monitor.worker.settings import WorkerSettings
from monitor.worker.silence import SilenceWatch
from topics.codec import Decoder
from topics.commands import Command
from topics.control_plane import ControlPlaneGate

log = logging.getLogger(__name__)

CONNECT_RETRY_S = 1.0
CLIENT_STOP_S = 10.0  # a client that cannot flush to a broker that is away is left behind


@dataclass
class Worker:
    settings: WorkerSettings
    core: CoreProtocol
    metrics: WorkerMetrics
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    http_port: int = 0
    failed: bool = False
    """A loop died: the process exits non-zero so its supervisor restarts it (restore)."""
    ingest: IngestStage | None = None
    processor: Processor | None = None
    checks: Health = field(default_factory=Health)
    """What ``/healthz`` judges; add a check with ``checks.add(name, fn)``."""
    status: StatusFollower | None = None
    """Materialises the status topic: every worker answers for every rollout from it."""
    reading: ReadingWatch | None = None
    producer: WatchedProducer | None = None
    _clients: list[Client] = field(default_factory=list)

    def request_stop(self) -> None:
        self.stop_event.set()

    def health(self) -> dict[str, Any]:
        report = self.checks.report(time.monotonic())
        if self.processor is None:  # not started yet
            report["ok"] = False
        report["partitions"] = sorted(self.processor.owned) if self.processor else []
        report["events_applied"] = self.processor.applied if self.processor else 0
        report["rollouts"] = self.processor.tracked_rollouts() if self.processor else 0
        # not a check: restarting a worker does not bring the broker back (docs/outages.md)
        why = self.reading.cannot_read() if self.reading is not None else "not started"
        report["reading"] = {"ok": why is None, "detail": why or ""}
        return report

    def _cannot_read(self) -> str | None:
        """Why nothing this worker knows is the present (its input is out of reach): every
        verdict it gives turns stale, inconclusive unless the rollout was stopped."""
        why = self.reading.cannot_read() if self.reading is not None else None
        return None if why is None else f"cannot read: {why}"

    def _add_checks(self) -> None:
        """The stock checks (``monitor.worker.health``); more can be added later."""
        assert self.ingest is not None and self.processor is not None
        assert self.producer is not None and self.reading is not None
        limits = self.settings.limits
        stall_s = limits.health_stall_s
        for stage in (self.ingest.progress, self.processor.progress):
            # a loop may wait on a send while the broker is away: a restart would not help
            turning = excusing_outages(loop_check(stage, stall_s), self.reading, stall_s)
            self.checks.add(f"{stage.name}_loop", turning)
            progress = excusing_outages(progress_check(stage, stall_s), self.reading, stall_s)
            self.checks.add(f"{stage.name}_progress", progress)
        self.checks.add(
            "ingest_failures", failures_check(self.ingest.progress, limits.health_max_failures)
        )
        if limits.max_rss_mb is not None:
            self.checks.add("memory", memory_check(limits.max_rss_mb << 20))
        self.checks.add("producer", self.producer.check)

    async def run(self) -> None:
        """Start, run until :meth:`request_stop` (or a signal), stop cleanly."""
        await self._start_clients()
        assert self.ingest is not None and self.processor is not None
        assert self.status is not None and self.reading is not None
        fleet = FleetViews(self.status.table, self.status, unavailable=self._cannot_read)
        runner, self.http_port = await serve(
            build_web_app(
                self.core, self.metrics, self.health, self.settings.http_token, fleet=fleet
            ),
            self.settings.http_host,
            self.settings.http_port,
            self.settings.limits.http,
            self.metrics,
        )
        log.info(
            "worker %s: http on %s:%d",
            self.settings.worker_id,
            self.settings.http_host,
            self.http_port,
        )
        tasks = [
            asyncio.create_task(self.ingest.run(), name="ingest"),
            asyncio.create_task(self.processor.run(), name="processor"),
            asyncio.create_task(
                self.processor.watch_silence(self.settings.silence_check_s, self.reading.proven),
                name="silence",
            ),
            asyncio.create_task(self.status.run(self.stop_event.is_set), name="status"),
            asyncio.create_task(self.reading.run(), name="reading"),
        ]
        stopper = asyncio.create_task(self.stop_event.wait())
        await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done() and task.exception() is not None:
                self.failed = True
                log.error("worker: %s loop died", task.get_name(), exc_info=task.exception())
        await self._stop(tasks)
        stopper.cancel()
        await runner.cleanup()

    async def _start_clients(self) -> None:
        s = self.settings
        common = {"bootstrap_servers": s.bootstrap, **s.security.aiokafka()}
        group = {
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "session_timeout_ms": s.session_timeout_ms,
            "heartbeat_interval_ms": s.heartbeat_interval_ms,
            "fetch_max_wait_ms": s.fetch_max_wait_ms,
        }
        # enable_idempotence=True implies acks="all" and keeps order across retries
        producer = self.producer = WatchedProducer(
            AIOKafkaProducer(
                **common,
                enable_idempotence=True,
                acks="all",
                linger_ms=1,
                max_batch_size=1 << 20,
                client_id=f"{s.worker_id}-producer",
            ),
            self._producer_broken,
            strict=frozenset({s.topics.control}),
        )
        ingest_consumer = AIOKafkaConsumer(
            **common,
            **group,
            group_id=s.ingest_group,
            client_id=f"{s.worker_id}-ingest",
            max_partition_fetch_bytes=4 << 20,
        )
        apply_consumer = AIOKafkaConsumer(
            **common,
            **group,
            group_id=s.apply_group,
            client_id=f"{s.worker_id}-apply",
            max_partition_fetch_bytes=4 << 20,
        )
        reader = AIOKafkaConsumer(
            **common, group_id=None, enable_auto_commit=False, client_id=f"{s.worker_id}-state"
        )
        status_reader = status_consumer(common, f"{s.worker_id}-status")
        probe = AIOKafkaConsumer(
            **common, group_id=None, enable_auto_commit=False, client_id=f"{s.worker_id}-probe"
        )
        admin = AdminClient(AIOKafkaAdminClient(**common, client_id=f"{s.worker_id}-admin"))
        for client in (producer, reader, status_reader, probe, admin):
            await self._start_retrying(client)
            self._clients.append(client)
        # aiokafka asks the broker to auto-create any topic it names: only name them once
        # they exist (made by `rollguard topics create`, with their settings)
        await self._wait_for_topics(reader)
        signed = SignedHere()  # what this worker publishes, its follower reads back
        self.status = StatusFollower(
            status_reader,
            s.topics.status,
            StatusTable(s.trusted_keys, s.status_stale_after_s, signed_here=signed),
        )
        await self.status.start(await producer.partitions_for(s.topics.status))

        publisher = Publisher(producer, s.signing_key, s.topics.control, self.stop_event.is_set)
        limits = s.limits
        decoder = Decoder(max_future_s=limits.max_clock_skew_s, max_past_s=limits.max_event_age_s)
        self.ingest = IngestStage(
            consumer=ingest_consumer,
            publisher=Publisher(
                producer, s.signing_key, s.topics.control, self.stop_event.is_set, resend=False
            ),
            metrics=self.metrics,
            by_rollout_topic=s.topics.by_rollout,
            dlq_topic=s.topics.dlq,
            gate=ControlPlaneGate(s.trusted_keys),
            decoder=decoder,
            max_records=s.ingest_max_records,
            envelope_max_events=s.envelope_max_events,
            reject_clock_skew=limits.reject_clock_skew,
        )
        self.processor = Processor(
            consumer=apply_consumer,
            core=self.core,
            publisher=publisher,
            checkpoints=CheckpointStore(
                producer,
                reader,
                s.topics.state,
                s.worker_id,
                on_unusable=lambda reason: self.metrics.checkpoints_unusable.labels(reason).inc(),
            ),
            metrics=self.metrics,
            topic=s.topics.by_rollout,
            dlq_topic=s.topics.dlq,
            silence=SilenceWatch(s.silence_after_s),
            source_topic=s.topics.telemetry,
            decoder=decoder,
            reject_clock_skew=limits.reject_clock_skew,
            checkpoint_interval_s=s.checkpoint_interval_s,
            max_records=s.apply_max_records,
            max_rollouts=limits.max_rollouts,
            on_published=self._annotator(),
            status=StatusPublisher(s.topics.status, s.worker_id, s.signing_key, signed=signed),
        )
        processor = self.processor
        self.reading = reading = ReadingWatch(
            probe=probe,
            admin=admin.client,
            telemetry_topic=s.topics.telemetry,
            by_rollout_topic=s.topics.by_rollout,
            ingest_group=s.ingest_group,
            positions=lambda: {q: state.next_offset for q, state in processor.owned.items()},
            held_back=lambda: processor.silence.held_back,
            metrics=OutageMetrics(self.metrics),
            suppressed=dropped_log_lines,
        )
        processor.reading_time = reading.reading_time
        self._add_checks()
        self.metrics.registry.register(StatusCollector(self.status.table, self.processor.status))
        self.processor.subscribe()
        ingest_consumer.subscribe([s.topics.telemetry], listener=IngestListener(self.ingest))
        for client in (apply_consumer, ingest_consumer):
            await self._start_retrying(client)
            self._clients.append(client)

    async def _wait_for_topics(self, client: Reader) -> None:
        from topics.admin import missing_topics

        while missing := missing_topics(await client.topics(), self.settings.topics):
            if self.stop_event.is_set():
                raise RuntimeError(f"stopped while waiting for topics {missing}")
            log.warning(
                "worker: topics %s do not exist; run `rollguard topics create` (waiting)",
                ", ".join(missing),
            )
            await asyncio.sleep(CONNECT_RETRY_S * 2)

    def _annotator(self) -> Callable[[Command], None] | None:
        """With ``grafana_url``: post each acked decision as a Grafana annotation, off the
        event loop (the SDK is blocking) and never failing the publish path."""
        s = self.settings
        if not s.grafana_url:
            return None
        from monitor.operators.annotations import GrafanaAnnotator

        annotator = GrafanaAnnotator(s.grafana_url, s.grafana_token)
        pending: set[asyncio.Task[None]] = set()

        def post(command: Command) -> None:
            task = asyncio.get_running_loop().create_task(annotator.apost(command))
            pending.add(task)  # keep a reference until done (asyncio holds tasks weakly)
            task.add_done_callback(pending.discard)

        return post

    def _producer_broken(self, error: BaseException) -> None:
        """A delivery failed: the producer is broken for good (see
        :mod:`monitor.worker.producer`). Stop now and exit non-zero."""
        if self.stop_event.is_set():
            return  # stopping anyway: sends failing on the way out are expected
        assert self.producer is not None
        log.error(
            "worker %s: producer broken (%s: %s); stopping to exit 1: the supervisor starts "
            "this worker again and it resumes from its checkpoints, nothing lost",
            self.settings.worker_id,
            self.producer.broken_by,
            error,
        )
        self.failed = True
        self.request_stop()

    async def _start_retrying(self, client: Client) -> None:
        """Start a client, waiting for the broker as long as it takes (or until stopped)."""
        while True:
            try:
                await client.start()
                return
            except Exception as exc:
                if self.stop_event.is_set():
                    raise
                log.warning("worker: broker not reachable yet (%r)", exc)
                with contextlib.suppress(Exception):
                    await client.stop()
                await asyncio.sleep(CONNECT_RETRY_S)

    async def _stop(self, tasks: list[asyncio.Task[None]]) -> None:
        assert self.ingest is not None and self.processor is not None
        self.ingest.stopping = self.processor.stopping = True
        if self.reading is not None:
            self.reading.stopping = True
        self.stop_event.set()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=10)
        # consumer.stop() does not call on_partitions_revoked (aiokafka/abc.py): checkpoint and
        # commit here, so the next owner starts where this worker stopped
        async with self.processor.lock:
            with contextlib.suppress(Exception):
                await self.processor.checkpoint(list(self.processor.owned))
        async with self.ingest.lock:
            with contextlib.suppress(Exception):
                await self.ingest.commit()
        for client in reversed(self._clients):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.stop(), CLIENT_STOP_S)


def create_worker(settings: WorkerSettings, core: CoreProtocol | None = None) -> Worker:
    """The factory: a worker for ``settings`` (the core built from them unless given)."""
    core = core if core is not None else build_core(settings)
    metrics = WorkerMetrics(settings.worker_id, settings.monitor_version)
    metrics.attach_core(lambda: core, settings.limits.max_series)
    return Worker(settings=settings, core=core, metrics=metrics)
