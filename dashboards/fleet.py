"""*Fleet health*: is the worker fleet keeping up, and is its input clean?

Events/s, DLQ rate by reason, consumer lag, checkpoint age, processing and decision latency
percentiles, worker count, partitions and rebalances. ``job="rollguard"`` is the scrape job
of ``dashboards/prometheus/prometheus.yml`` and docker-compose.
"""

from __future__ import annotations

from typing import Final

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import stat, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from dashboards import panels as p

JOB: Final = "rollguard"

WORKERS_UP = f'sum(up{{job="{JOB}"}})'
WORKERS_KNOWN = "count(rollguard_worker_info)"
EVENTS_TOTAL = "sum(rate(rollguard_events_total[$__rate_interval]))"
DLQ_TOTAL = "sum(rate(rollguard_dlq_total[$__rate_interval])) or vector(0)"
LAG_TOTAL = "sum(rollguard_consumer_lag)"
CHECKPOINT_MAX = "max(rollguard_checkpoint_age_seconds)"

EVENTS = "sum by (kind) (rate(rollguard_events_total[$__rate_interval]))"
MESSAGES = "sum by (topic) (rate(rollguard_messages_total[$__rate_interval]))"
DLQ = "sum by (reason) (rate(rollguard_dlq_total[$__rate_interval]))"
LAG = "max by (topic, partition) (rollguard_consumer_lag)"
CHECKPOINT_AGE = "max by (instance) (rollguard_checkpoint_age_seconds)"
CHECKPOINTS = "sum by (instance) (rate(rollguard_checkpoints_total[$__rate_interval]))"


def quantile(q: float, histogram: str) -> str:
    return f"histogram_quantile({q}, sum by (le) (rate({histogram}_bucket[$__rate_interval])))"


PROCESSING = [quantile(q, "rollguard_processing_seconds") for q in (0.5, 0.95, 0.99)]
DECISION_LATENCY = [quantile(q, "rollguard_decision_latency_seconds") for q in (0.5, 0.95, 0.99)]
WORKERS = f'up{{job="{JOB}"}}'
PARTITIONS = "sum by (instance) (rollguard_assigned_partitions)"
REBALANCES = "sum by (instance) (increase(rollguard_rebalances_total[$__rate_interval]))"


def _stat(title: str, expr: str, unit: str, *, red_from: float | None = None) -> stat.Panel:
    return p.stat_panel(
        title, expr, unit=unit, red_from=red_from, graph_mode=cm.BigValueGraphMode.AREA, span=4
    )


def _series(
    title: str, targets: list[tuple[str, str]], unit: str, *, span: int = 12
) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(title)
        .datasource(p.DS)
        .targets(
            [p.query(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(targets)]
        )
        .unit(unit)
        .line_width(1)
        .fill_opacity(10)
        .legend(p.legend_table())
        .tooltip(p.tooltip_multi())
        .height(8)
        .span(span)
    )


def build() -> db.Dashboard:
    return (
        db.Dashboard("Fleet health")
        .uid(p.FLEET_UID)
        .description("rollguard workers: throughput, input quality, lag, state, latency.")
        .tags(p.TAGS)
        .time("now-1h", "now")
        .refresh("10s")
        .timezone("browser")
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .with_variable(p.datasource_variable())
        .with_panel(_stat("Workers up", WORKERS_UP, "short"))
        .with_panel(_stat("Workers reporting", WORKERS_KNOWN, "short"))
        .with_panel(_stat("Events/s", EVENTS_TOTAL, "ops"))
        .with_panel(_stat("DLQ/s", DLQ_TOTAL, "ops", red_from=0.001))
        .with_panel(_stat("Consumer lag", LAG_TOTAL, "short", red_from=10_000))
        .with_panel(_stat("Oldest checkpoint", CHECKPOINT_MAX, "s", red_from=300))
        .with_row(db.Row("Throughput and input quality"))
        .with_panel(_series("Events/s by kind", [(EVENTS, "{{kind}}")], "ops"))
        .with_panel(_series("Kafka messages/s by topic", [(MESSAGES, "{{topic}}")], "ops"))
        .with_panel(_series("Dead-letter rate by reason", [(DLQ, "{{reason}}")], "ops"))
        .with_panel(_series("Consumer lag", [(LAG, "{{topic}}/{{partition}}")], "short"))
        .with_row(db.Row("Latency"))
        .with_panel(
            _series(
                "Processing latency (per batch)",
                list(zip(PROCESSING, ["p50", "p95", "p99"], strict=True)),
                "s",
            )
        )
        .with_panel(
            _series(
                "Decision latency (message to ack)",
                list(zip(DECISION_LATENCY, ["p50", "p95", "p99"], strict=True)),
                "s",
            )
        )
        .with_row(db.Row("Workers and state"))
        .with_panel(_series("Workers", [(WORKERS, "{{instance}}")], "short", span=8))
        .with_panel(
            _series(
                "Partitions and rebalances",
                [(PARTITIONS, "partitions {{instance}}"), (REBALANCES, "rebalances {{instance}}")],
                "short",
                span=8,
            )
        )
        .with_panel(
            _series(
                "Checkpoints",
                [(CHECKPOINT_AGE, "age {{instance}}"), (CHECKPOINTS, "per s {{instance}}")],
                "s",
                span=8,
            )
        )
    )
