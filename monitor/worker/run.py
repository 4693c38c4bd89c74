"""The blocking entry point of ``rollguard worker``: one worker, its GC settings and signals."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

from monitor.edge.logs import limit_log_volume
from monitor.worker import stacks
from monitor.worker.app import create_worker
from monitor.worker.settings import WorkerSettings

log = logging.getLogger(__name__)


def run_worker(settings: WorkerSettings) -> None:
    """Blocking entry point of ``rollguard worker``: SIGTERM/SIGINT stop it cleanly."""
    limit_log_volume()

    async def main() -> None:
        worker = create_worker(settings)
        # Every event and Kafka record is a GC-tracked object that lives for one round, so
        # the default thresholds (700, 10, 10) ran young collections every few hundred of
        # them and full ones over the whole heap; freezing the start-up heap (plans, core,
        # clients' code) and collecting less often took single-event throughput from 66k to
        # 199k and from 118k to 241k events/s in two paired runs of
        # tests/bench/worker/throughput.py. Most garbage is freed by reference counting
        # anyway; cycles wait longer, within bounded memory.
        gc.freeze()
        gc.set_threshold(100_000, 50, 100)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.request_stop)
        stacks.install(loop)
        await worker.run()
        if worker.failed:
            log.error("worker %s: stopped; exiting 1 for its supervisor", settings.worker_id)
            raise SystemExit(1)

    asyncio.run(main())
