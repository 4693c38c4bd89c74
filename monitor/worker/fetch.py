"""One fetch round of a worker stage, riding through a broker that is away."""

from __future__ import annotations

import asyncio
import logging

from monitor.edge.clients import Batches, Fetcher

log = logging.getLogger("rollguard.worker")


async def fetch_round(consumer: Fetcher, max_records: int, stage: str) -> Batches | None:
    """``getmany`` once; None after a short pause when it fails (the client reconnects by
    itself, so the stage just tries again)."""
    try:
        batches = await consumer.getmany(timeout_ms=200, max_records=max_records)
    except Exception as exc:  # broker away: any client error means "not this round"
        log.warning("%s: fetch failed (%r)", stage, exc)
        await asyncio.sleep(0.5)
        return None
    return batches
