"""Prometheus series of the fleet status: what this worker published, what its table holds,
and what it refused (a forged or unsigned status record shows up here, not in an answer)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.status.publisher import StatusPublisher
from monitor.status.table import StatusTable


@dataclass(eq=False)  # the registry keeps collectors in a set: hash by identity
class StatusCollector(Collector):
    table: StatusTable
    publisher: StatusPublisher | None = None

    def collect(self) -> Iterator[Metric]:
        rejected = CounterMetricFamily(
            "rollguard_status_rejected",
            "Status records dropped by this worker's table, by reason "
            "(malformed, unsigned, unknown_key, bad_signature, behind)",
            labels=["reason"],
        )
        for reason, n in sorted(self.table.rejected.items()):
            rejected.add_metric([reason], float(n))
        yield rejected
        known = self.table.all(time.time())
        rollouts = GaugeMetricFamily(
            "rollguard_status_rollouts",
            "Rollouts in this worker's status table, by freshness",
            labels=["freshness"],
        )
        stale = sum(1 for k in known if k.stale)
        rollouts.add_metric(["fresh"], float(len(known) - stale))
        rollouts.add_metric(["stale"], float(stale))
        yield rollouts
        if self.publisher is not None:
            yield CounterMetricFamily(
                "rollguard_status_published_records",
                "Status records (views and heartbeats) this worker queued",
                value=float(self.publisher.records),
            )
            yield CounterMetricFamily(
                "rollguard_status_published_bytes",
                "Bytes of status records this worker queued",
                value=float(self.publisher.record_bytes),
            )
