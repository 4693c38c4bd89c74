"""Prometheus metrics of one worker: the names dashboards and alerts are written against.

One registry per worker (no global state, several workers per test process). Counters and
histograms are updated by the worker as it goes; per-rollout values (gating signals, rule
states, stage, verdict) are read from the core at scrape time by :class:`CoreCollector`, so
the per-event hot path pays nothing for them. Label cardinality is bounded by the number of
active rollouts × signals × variants × segments declared in plans.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, Protocol, runtime_checkable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.core.api import BandSample, CoreProtocol, ThresholdSample
from monitor.core.explain import lines
from topics.commands import Command

RULE_STATE_VALUE: Final = {"inactive": 0.0, "pending": 1.0, "firing": 2.0}
"""rollguard_rule_state encodes the Prometheus alerting states as numbers."""

REASON_LABEL_MAX: Final = 240
"""Decision reasons' headlines are cut to this many characters in
``rollguard_last_decision_info`` (its ``reason`` label; the statistics line is left out)."""


MAX_SERIES: Final = 20_000
"""Per-rollout series one worker exports at most (Prometheus' ``sample_limit`` fails a whole
scrape that exceeds it; 2,000 invented rollouts once made 38,000)."""


@runtime_checkable
class Counted(Protocol):
    """Optional extra of a core: events counted and not applied, by reason."""

    def counters(self) -> dict[str, int]: ...


@runtime_checkable
class ThresholdsAndBands(Protocol):
    """Optional extra of a core: thresholds and learned bands for the dashboards."""

    def thresholds(self) -> Iterable[ThresholdSample]: ...

    def bands(self) -> Iterable[BandSample]: ...


LATENCY_BUCKETS: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)


class WorkerMetrics:
    """Every metric a worker exports. ``render()`` gives the text exposition format."""

    def __init__(self, worker_id: str, version: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.info = Gauge(
            "rollguard_worker_info",
            "Worker identity (value 1)",
            ["worker", "version"],
            registry=r,
        )
        self.info.labels(worker_id, version).set(1)
        self.messages = Counter(
            "rollguard_messages", "Kafka messages read, by topic", ["topic"], registry=r
        )
        self.events = Counter(
            "rollguard_events",
            "Valid events applied to the core, by kind",
            ["kind"],
            registry=r,
        )
        self.dlq = Counter(
            "rollguard_dlq",
            "Inputs sent to the dead-letter topic, by reason",
            ["reason"],
            registry=r,
        )
        self.late_events = Counter(
            "rollguard_late_events",
            "Events later than the allowed lateness (not applied)",
            ["rollout"],
            registry=r,
        )
        self.decisions = Counter(
            "rollguard_decisions",
            "Commands published to the control topic (after broker ack)",
            ["rollout", "action", "advisory"],
            registry=r,
        )
        self.last_decision = Gauge(
            "rollguard_last_decision_timestamp_seconds",
            "Event time of the last published command, by rollout and action",
            ["rollout", "action"],
            registry=r,
        )
        self.processing = Histogram(
            "rollguard_processing_seconds",
            "Wall time to process one batch of events through the core",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.decision_latency = Histogram(
            "rollguard_decision_latency_seconds",
            "From the decisive message's Kafka timestamp to the broker's ack of the command",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.consumer_lag = Gauge(
            "rollguard_consumer_lag",
            "Messages behind the end of the partition",
            ["topic", "partition"],
            registry=r,
        )
        self.checkpoint_age = Gauge(
            "rollguard_checkpoint_age_seconds",
            "Seconds since the oldest checkpoint of a partition with events applied after it "
            "was taken (0: every checkpoint is current)",
            registry=r,
        )
        self.checkpoints = Counter("rollguard_checkpoints", "State checkpoints written", registry=r)
        self.rebalances = Counter(
            "rollguard_rebalances", "Partition assignments received", registry=r
        )
        self.rewinds = Counter(
            "rollguard_ingest_rewinds",
            "Times the ingest read its input again from the last commit (a forward failed)",
            registry=r,
        )
        self.loop_failures = Counter(
            "rollguard_loop_failures",
            "Rounds of a worker loop that failed and were tried again (stage: ingest, core; "
            "error: the exception's type)",
            ["stage", "error"],
            registry=r,
        )
        self.http_closed = Counter(
            "rollguard_http_connections_closed",
            "HTTP connections the worker closed to stay within its limits, by reason",
            ["reason"],
            registry=r,
        )
        self.checkpoints_unusable = Counter(
            "rollguard_checkpoints_unusable",
            "State-topic records or checkpoints that could not be used (record, checkpoint, "
            "import): the partition restores from an older checkpoint or replays",
            ["reason"],
            registry=r,
        )
        self.gaps = Counter(
            "rollguard_envelope_gaps",
            "by_rollout envelopes set aside because one sent before them never arrived",
            registry=r,
        )
        self.assigned_partitions = Gauge(
            "rollguard_assigned_partitions",
            "Partitions of the by-rollout topic owned",
            registry=r,
        )
        self.silences = Counter(
            "rollguard_silences",
            "Silence events raised from the wall clock",
            ["rollout", "variant"],
            registry=r,
        )
        self.last_decision_info = Gauge(
            "rollguard_last_decision_info",
            "Last published command per rollout (value: its event time, seconds); "
            "labels carry action, deciding rule and reason for dashboard annotations",
            ["rollout", "action", "rule", "advisory", "reason"],
            registry=r,
        )
        self._last_info_labels: dict[str, tuple[str, ...]] = {}

    def record_decision(self, command: Command) -> None:
        """Count one published (acked) command and remember it as the rollout's last.

        Updates ``rollguard_decisions_total``, ``rollguard_last_decision_timestamp_seconds``
        and ``rollguard_last_decision_info`` (one series per rollout: the previous
        decision's series is removed, so cardinality stays one per rollout).
        """
        advisory = "true" if command.advisory else "false"
        self.decisions.labels(command.rollout_id, command.action, advisory).inc()
        self.last_decision.labels(command.rollout_id, command.action).set(command.issued_at)
        labels = (
            command.rollout_id,
            command.action,
            command.rule or "",
            advisory,
            lines(command.reason)[0][:REASON_LABEL_MAX],  # the headline, as annotations show
        )
        previous = self._last_info_labels.get(command.rollout_id)
        if previous is not None and previous != labels:
            self.last_decision_info.remove(*previous)
        self.last_decision_info.labels(*labels).set(command.issued_at)
        self._last_info_labels[command.rollout_id] = labels

    def attach_core(
        self, core: Callable[[], CoreProtocol | None], max_series: int = MAX_SERIES
    ) -> None:
        """Export per-rollout values read from the core at scrape time (at most
        ``max_series`` of them, whole rollouts at a time)."""
        self.registry.register(CoreCollector(core, max_series))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class CoreCollector(Collector):
    """Reads gauges, rule states and rollout views from the core when Prometheus scrapes."""

    def __init__(
        self, core: Callable[[], CoreProtocol | None], max_series: int = MAX_SERIES
    ) -> None:
        self._core = core
        self._max_series = max_series
        self._shown: set[str] = set()

    def describe(self) -> list[Metric]:
        return []  # dynamic: described by collect()

    def collect(self) -> Iterator[Metric]:
        core = self._core()
        signal = GaugeMetricFamily(
            "rollguard_signal",
            "Current value of a gating signal",
            labels=["rollout", "signal", "variant", "segment"],
        )
        rule = GaugeMetricFamily(
            "rollguard_rule_state",
            "Rule state: 0 inactive, 1 pending, 2 firing",
            labels=["rollout", "rule"],
        )
        stage = GaugeMetricFamily(
            "rollguard_rollout_info",
            "Current stage and verdict of a rollout (value 1)",
            labels=["rollout", "stage", "verdict"],
        )
        traffic = GaugeMetricFamily(
            "rollguard_rollout_traffic_pct", "Traffic share of the new path", labels=["rollout"]
        )
        threshold = GaugeMetricFamily(
            "rollguard_rule_threshold",
            "Current absolute threshold of a rule on a signal",
            labels=["rollout", "rule", "signal"],
        )
        band = GaugeMetricFamily(
            "rollguard_signal_band",
            "Learned normal band of a signal (bound: lower | upper)",
            labels=["rollout", "signal", "variant", "segment", "bound"],
        )
        # every sample of a rollout first, then whole rollouts within the series budget
        per: dict[str, list[tuple[GaugeMetricFamily, list[str], float]]] = defaultdict(list)
        skipped = GaugeMetricFamily(
            "rollguard_events_skipped",
            "Events the core counted and did not apply, by reason, over the rollouts held",
            labels=["reason"],
        )
        if core is not None:
            for g in core.gauges():
                per[g.rollout_id].append(
                    (signal, [g.rollout_id, g.signal, g.variant, g.segment], g.value)
                )
            for s in core.rule_states():
                per[s.rollout_id].append(
                    (rule, [s.rollout_id, s.rule], RULE_STATE_VALUE.get(s.state, 0.0))
                )
            for rollout_id in core.rollouts():
                view: dict[str, Any] = core.view(rollout_id) or {}
                labels = [rollout_id, str(view.get("stage", "")), str(view.get("verdict", ""))]
                per[rollout_id].append((stage, labels, 1.0))
                pct = view.get("traffic_pct")
                if isinstance(pct, int | float):
                    per[rollout_id].append((traffic, [rollout_id], float(pct)))
            if isinstance(core, ThresholdsAndBands):
                for t in core.thresholds():
                    per[t.rollout_id].append((threshold, [t.rollout_id, t.rule, t.signal], t.value))
                for b in core.bands():
                    labels = [b.rollout_id, b.signal, b.variant, b.segment]
                    per[b.rollout_id].append((band, [*labels, "lower"], b.lower))
                    per[b.rollout_id].append((band, [*labels, "upper"], b.upper))
            if isinstance(core, Counted):
                for reason, count in sorted(core.counters().items()):
                    if reason != "events":
                        skipped.add_metric([reason], float(count))
        omitted = GaugeMetricFamily(
            "rollguard_rollouts_omitted",
            "Rollouts left out of the per-rollout series to stay within --max-series",
        )
        omitted.add_metric([], float(self._admit(per)))
        yield from (signal, rule, stage, traffic, threshold, band, skipped, omitted)

    def _admit(self, per: dict[str, list[tuple[GaugeMetricFamily, list[str], float]]]) -> int:
        """Add whole rollouts' samples while they fit in ``max_series``: those exported last
        time first (their series stay put when invented rollouts flood in), then the others
        by id. Returns how many rollouts were left out."""
        budget, left_out, shown = self._max_series, 0, set()
        ordered = [r for r in self._shown if r in per] + sorted(set(per) - self._shown)
        for rollout_id in ordered:
            samples = per[rollout_id]
            if len(samples) > budget:
                left_out += 1
                continue
            budget -= len(samples)
            shown.add(rollout_id)
            for family, labels, value in samples:
                family.add_metric(labels, value)
        self._shown = shown
        return left_out
