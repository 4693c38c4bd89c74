"""One fetch round of a worker stage, riding through a broker that is away."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("rollguard.worker")


async def fetch_round(consumer: Any, max_records: int, stage: str) -> dict[Any, list[Any]] | None:
    """``getmany`` once; None after a short pause when it fails (the client reconnects by
    itself, so the stage just tries again)."""
    try:
        batches: dict[Any, list[Any]] = await consumer.getmany(
            timeout_ms=200, max_records=max_records
        )
    except Exception as exc:  # broker away: any client error means "not this round"
        log.warning("%s: fetch failed (%r)", stage, exc)
        await asyncio.sleep(0.5)
        return None
    return batches
