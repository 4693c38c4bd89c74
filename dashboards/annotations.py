"""Decision annotations on the dashboards, from two sources.

1. The decisions metric: ``rollguard_last_decision_info`` (one series per rollout, labels
   action, rule, reason; value = event time of the decision in seconds). Grafana's Prometheus
   annotation option *series value as timestamp* (``useValueForTime``; the editor's tooltip:
   "the unit of timestamp is milliseconds", hence ``* 1000``) puts each decision at its event
   time with its reason as text. Grafana's Prometheus datasource
   (``processAnnotationResponse`` in its ``datasource.ts``) merges the samples of a series
   that are at most one step apart into one event, so the constant series of a decision
   gives one annotation, not one per step.
2. Grafana's own annotations, posted by :class:`monitor.operators.annotations.GrafanaAnnotator` with
   tags ``rollguard``, ``rollout:<id>``, ``action:<action>`` (workers run with
   ``--grafana-url``), shown with a tag filter.

The Prometheus-specific keys (``titleFormat``, ``textFormat``, ``tagKeys``,
``useValueForTime``, ``step``) belong to Grafana's open ``AnnotationQuery`` object but are
not modelled by grafana-foundation-sdk, so :class:`PromAnnotationQuery` adds them.
"""

from __future__ import annotations

from typing import Final

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import dashboard as dm

from dashboards import panels as p

PROM_ANNOTATION_KEYS: Final = frozenset(
    {"titleFormat", "textFormat", "tagKeys", "useValueForTime", "step"}
)
"""Keys of a Prometheus annotation query that the SDK's AnnotationQuery does not model."""

GRAFANA_DS: Final = dm.DataSourceRef(type_val="grafana", uid="-- Grafana --")


def decision_expr(rollout_filter: str) -> str:
    """Decisions from the metric, in milliseconds for *series value as timestamp*."""
    return f'rollguard_last_decision_info{{rollout=~"{rollout_filter}"}} * 1000'


class PromAnnotationQuery(dm.AnnotationQuery):
    """An AnnotationQuery with Grafana's Prometheus-annotation keys."""

    def __init__(
        self, *, name: str, expr: str, title_format: str, text_format: str, tag_keys: str
    ) -> None:
        super().__init__(
            name=name, datasource=p.DS, enable=True, hide=False, icon_color="red", expr=expr
        )
        self.title_format = title_format
        self.text_format = text_format
        self.tag_keys = tag_keys

    def to_json(self) -> dict[str, object]:
        payload = super().to_json()
        payload.update(
            {
                "titleFormat": self.title_format,
                "textFormat": self.text_format,
                "tagKeys": self.tag_keys,
                "useValueForTime": True,
                "step": "10s",
            }
        )
        return payload


class _Built(cogbuilder.Builder[dm.AnnotationQuery]):
    def __init__(self, query: dm.AnnotationQuery) -> None:
        self._query = query

    def build(self) -> dm.AnnotationQuery:
        return self._query


def decisions_annotation(rollout_filter: str) -> cogbuilder.Builder[dm.AnnotationQuery]:
    return _Built(
        PromAnnotationQuery(
            name="Decisions (metric)",
            expr=decision_expr(rollout_filter),
            title_format="{{action}} {{rollout}} ({{rule}})",
            text_format="{{reason}}",
            tag_keys="rollout,action,advisory",
        )
    )


def grafana_decisions_annotation(tags: list[str]) -> cogbuilder.Builder[dm.AnnotationQuery]:
    """Annotations posted to Grafana's API by workers, filtered by tags (all must match)."""
    return _Built(
        dm.AnnotationQuery(
            name="Decisions (posted by workers)",
            datasource=GRAFANA_DS,
            enable=True,
            hide=False,
            icon_color="orange",
            target=dm.AnnotationTarget(limit=500, match_any=False, tags=tags, type_val="tags"),
            type_val="tags",
        )
    )
