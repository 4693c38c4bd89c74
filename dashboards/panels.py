"""Small typed helpers on top of grafana-foundation-sdk shared by the three dashboards.

grafana-foundation-sdk is Grafana's own generated, typed builder library (the same schema
Grafana validates against), so a misspelt option is a type error, not a silently ignored
JSON key. These helpers only fix rollguard's conventions: one Prometheus datasource picked
by the ``datasource`` variable, instant vs range queries, panel sizes.
"""

from __future__ import annotations

from typing import Final

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus, stat
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

DATASOURCE_UID: Final = "rollguard-prometheus"
"""uid of the Prometheus datasource that provisioning and ``dashboards push`` create."""

DS: Final = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
"""Every panel and query reads from the datasource chosen in the ``datasource`` variable."""

OVERVIEW_UID: Final = "rollguard-overview"
DETAIL_UID: Final = "rollguard-rollout-detail"
FLEET_UID: Final = "rollguard-fleet"
TAGS: Final = ["rollguard"]


def datasource_variable() -> db.DatasourceVariable:
    return (
        db.DatasourceVariable("datasource")
        .label("Prometheus")
        .type("prometheus")
        .current(
            dm.VariableOption(selected=True, text="rollguard-prometheus", value=DATASOURCE_UID)
        )
    )


def query(
    expr: str, legend: str = "", ref: str = "A", *, instant: bool = False, table: bool = False
) -> cogbuilder.Builder[cogvariants.Dataquery]:
    """A PromQL target; ``instant`` for stats and tables, ``table`` for table format."""
    q = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DS)
    if legend:
        q = q.legend_format(legend)
    q = q.instant() if instant else q.range()
    if table:
        q = q.format(pm.PromQueryFormat.TABLE)
    return q


def legend_table() -> cb.VizLegendOptions:
    return (
        cb.VizLegendOptions()
        .display_mode(cm.LegendDisplayMode.TABLE)
        .placement(cm.LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs(["lastNotNull", "max"])
    )


def tooltip_multi() -> cb.VizTooltipOptions:
    return cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.DESCENDING)


def last_value() -> cb.ReduceDataOptions:
    return cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


def steps(*pairs: tuple[float | None, str]) -> db.ThresholdsConfig:
    """Absolute thresholds: ``steps((None, "green"), (1, "red"))``."""
    return (
        db.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=v, color=c) for v, c in pairs])
    )


def value_text(mapping: dict[str, tuple[str, str]]) -> list[dm.ValueMapping]:
    """Map raw values to display text and colour: ``{"2": ("firing", "red")}``."""
    options = {
        raw: dm.ValueMappingResult(text=text, color=color, index=i)
        for i, (raw, (text, color)) in enumerate(mapping.items())
    }
    return [dm.ValueMap(options=options)]


RULE_STATE_MAPPING: Final = {
    "0": ("inactive", "green"),
    "1": ("pending", "yellow"),
    "2": ("firing", "red"),
}
"""rollguard_rule_state values (see ``monitor.worker.metrics.RULE_STATE_VALUE``)."""


def link_to_detail(title: str) -> dict[str, object]:
    """A data link (field config ``links``) from a rollout cell to its detail dashboard."""
    url = f"/d/{DETAIL_UID}/rollout-detail?var-rollout=${{__value.raw}}&${{__url_time_range}}"
    return {"title": title, "url": url, "targetBlank": False}


def organize(rename: dict[str, str], exclude: list[str]) -> dm.DataTransformerConfig:
    """Grafana's ``organize`` transformation: hide helper columns, rename the rest."""
    return dm.DataTransformerConfig(
        id_val="organize",
        options={
            "excludeByName": {name: True for name in exclude},
            "renameByName": rename,
        },
    )


def merge() -> dm.DataTransformerConfig:
    """Join several instant table queries on their common label columns."""
    return dm.DataTransformerConfig(id_val="merge", options={})


def stat_panel(
    title: str,
    expr: str,
    *,
    unit: str | None = None,
    red_from: float | None = None,
    color_mode: cm.BigValueColorMode = cm.BigValueColorMode.VALUE,
    graph_mode: cm.BigValueGraphMode = cm.BigValueGraphMode.NONE,
    span: int = 6,
) -> stat.Panel:
    """A single-value panel of an instant query: green, or red from ``red_from`` on."""
    thresholds = (
        steps((None, "green")) if red_from is None else steps((None, "green"), (red_from, "red"))
    )
    panel = (
        stat.Panel()
        .title(title)
        .datasource(DS)
        .with_target(query(expr, instant=True))
        .reduce_options(last_value())
    )
    if unit is not None:
        panel = panel.unit(unit)
    return (
        panel.thresholds(thresholds)
        .color_mode(color_mode)
        .graph_mode(graph_mode)
        .height(4)
        .span(span)
    )
