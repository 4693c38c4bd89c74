"""*Rollout detail*, templated on ``rollout`` and ``segment``.

Each gating signal is drawn baseline vs canary (and shadow), with the thresholds of the
rules that watch it and the learned band of each variant; rule states over time; the shadow
comparison (match rate, price deviation), status mismatches, P&L and drawdown; decisions as
annotations with their reason.

``segment``: the variable's "All" option means the whole rollout, i.e. the series without
a segment label (Prometheus drops empty labels). Queries match ``segment=~"$segment"`` and
"All" stands for the regex ``^$`` (:data:`WHOLE_ROLLOUT`), which matches only the empty
value; Grafana passes a custom all value through unescaped and regex-escapes a selected
segment, so one segment (``region=apac,...``) matches exactly.
"""

from __future__ import annotations

from typing import Final

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import stat, statetimeline, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from dashboards import panels as p
from dashboards.annotations import decisions_annotation, grafana_decisions_annotation

WHOLE_ROLLOUT: Final = "^$"
"""The ``segment`` variable's "All" value: only the series without a segment label."""
SEL: Final = 'rollout="$rollout", segment=~"$segment"'

SIGNAL = f'rollguard_signal{{{SEL}, signal="$signal"}}'
THRESHOLD = 'rollguard_rule_threshold{rollout="$rollout", signal="$signal"}'
BAND = f'rollguard_signal_band{{{SEL}, signal="$signal"}}'

STAGE = 'rollguard_rollout_info{rollout="$rollout"}'
TRAFFIC = 'rollguard_rollout_traffic_pct{rollout="$rollout"}'
FIRING = 'sum(rollguard_rule_state{rollout="$rollout"} == bool 2)'
SINCE = 'time() - max(rollguard_last_decision_timestamp_seconds{rollout="$rollout"})'
RULE_STATES = 'max by (rule) (rollguard_rule_state{rollout="$rollout"})'
DECISIONS = 'sum by (action, advisory) (rollguard_decisions_total{rollout="$rollout"})'
"""Cumulative: increase() would miss the first decision of each action (see overview)."""
LATE = 'sum(rollguard_late_events_total{rollout="$rollout"}) or vector(0)'


def named(signal: str) -> str:
    """One named signal of the selected rollout and segment, all variants."""
    return f'rollguard_signal{{{SEL}, signal="{signal}"}}'


NAMED_PANELS: Final[tuple[tuple[str, tuple[str, ...], str], ...]] = (
    ("Shadow match rate", ("shadow_match_rate",), "percentunit"),
    ("Shadow price deviation (bps)", ("shadow_price_dev_bps",), "short"),
    ("Status mismatches", ("status_mismatches",), "short"),
    ("LP failovers", ("failovers",), "short"),
    ("P&L (cumulative, minor units)", ("pnl_cum",), "short"),
    ("Drawdown (minor units)", ("drawdown",), "short"),
)
"""(title, signals, unit) of the dedicated panels: names of ``monitor.core.signals``."""


def _variables() -> list[db.QueryVariable]:
    rollout = (
        db.QueryVariable("rollout")
        .label("Rollout")
        .datasource(p.DS)
        .query("label_values(rollguard_rollout_info, rollout)")
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
    )
    segment = (
        db.QueryVariable("segment")
        .label("Segment (All = whole rollout)")
        .datasource(p.DS)
        .query('label_values(rollguard_signal{rollout="$rollout"}, segment)')
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .include_all(True)
        .all_value(WHOLE_ROLLOUT)
        .current(dm.VariableOption(selected=True, text="All", value="$__all"))
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
    )
    signal = (
        db.QueryVariable("signal")
        .label("Gating signals")
        .datasource(p.DS)
        .query('label_values(rollguard_signal{rollout="$rollout"}, signal)')
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .multi(True)
        .include_all(True)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
    )
    return [rollout, segment, signal]


def _dashed() -> dm.DynamicConfigValue:
    return dm.DynamicConfigValue(
        id_val="custom.lineStyle", value=cm.LineStyle(fill="dash", dash=[10.0, 10.0])
    )


def _stat_text(title: str, expr: str, legend: str) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .datasource(p.DS)
        .with_target(p.query(expr, legend, instant=True))
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).fields("/^.*$/"))
        .text_mode(cm.BigValueTextMode.NAME)
        .color_mode(cm.BigValueColorMode.NONE)
        .graph_mode(cm.BigValueGraphMode.NONE)
        .height(4)
        .span(6)
    )


def _signal_panel() -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title("$signal")
        .description(
            "Baseline vs canary (and shadow) of one gating signal; dashed: thresholds of the "
            "rules watching it; shaded: learned band (lower..upper) of each variant."
        )
        .datasource(p.DS)
        .targets(
            [
                p.query(SIGNAL, "{{variant}}", "A"),
                p.query(THRESHOLD, "threshold {{rule}}", "B"),
                p.query(BAND, "{{variant}} band {{bound}}", "C"),
            ]
        )
        .repeat("signal")
        .repeat_direction("h")
        .legend(p.legend_table())
        .tooltip(p.tooltip_multi())
        .line_width(2)
        .span_nulls(True)
        .override_by_regexp("^threshold .*", [_dashed(), _color("red")])
        .override_by_regexp(
            ".* band .*",
            [
                dm.DynamicConfigValue(id_val="custom.lineWidth", value=0),
                dm.DynamicConfigValue(id_val="custom.fillOpacity", value=10),
            ],
        )
        .override_by_name("baseline", [_color("blue")])
        .override_by_name("canary", [_color("orange")])
        .override_by_name("shadow", [_color("purple")])
        .height(8)
        .span(12)
    )


def _color(color: str) -> dm.DynamicConfigValue:
    return dm.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": color})


def _named_panel(title: str, signals: tuple[str, ...], unit: str) -> timeseries.Panel:
    targets = [
        p.query(named(s), f"{s} {{{{variant}}}}", chr(ord("A") + i)) for i, s in enumerate(signals)
    ]
    return (
        timeseries.Panel()
        .title(title)
        .datasource(p.DS)
        .targets(targets)
        .unit(unit)
        .legend(p.legend_table())
        .tooltip(p.tooltip_multi())
        .span_nulls(True)
        .height(8)
        .span(8)
    )


def _rule_states() -> statetimeline.Panel:
    return (
        statetimeline.Panel()
        .title("Rule states")
        .description("inactive / pending / firing per rule, on event time of the core")
        .datasource(p.DS)
        .with_target(p.query(RULE_STATES, "{{rule}}"))
        .mappings(p.value_text(p.RULE_STATE_MAPPING))
        .thresholds(p.steps((None, "green"), (1, "yellow"), (2, "red")))
        .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
        .show_value(cm.VisibilityMode.NEVER)
        .line_width(0)
        .fill_opacity(70)
        .merge_values(True)
        .height(8)
        .span(24)
    )


def _decisions() -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title("Decisions (cumulative) and late events")
        .datasource(p.DS)
        .targets(
            [
                p.query(DECISIONS, "{{action}} (advisory={{advisory}})", "A"),
                p.query(LATE, "late events", "B"),
            ]
        )
        .line_interpolation(cm.LineInterpolation.STEP_AFTER)
        .line_width(2)
        .fill_opacity(0)
        .legend(p.legend_table())
        .height(8)
        .span(24)
    )


def build() -> db.Dashboard:
    d = (
        db.Dashboard("Rollout detail")
        .uid(p.DETAIL_UID)
        .description("One rollout: gating signals baseline vs canary, rules, decisions.")
        .tags(p.TAGS)
        .time("now-1h", "now")
        .refresh("10s")
        .timezone("browser")
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .with_variable(p.datasource_variable())
        .annotation(decisions_annotation(rollout_filter="$rollout"))
        .annotation(grafana_decisions_annotation(["rollguard", "rollout:$rollout"]))
        .link(
            db.DashboardLink("Rollouts overview")
            .type(dm.DashboardLinkType.LINK)
            .url(f"/d/{p.OVERVIEW_UID}/rollouts-overview")
            .keep_time(True)
        )
    )
    for v in _variables():
        d = d.with_variable(v)
    d = (
        d.with_panel(_stat_text("Stage", STAGE, "{{stage}}"))
        .with_panel(_stat_text("Verdict", STAGE, "{{verdict}}"))
        .with_panel(p.stat_panel("Traffic share", TRAFFIC, unit="percent"))
        .with_panel(p.stat_panel("Firing rules", FIRING, unit="short", red_from=1))
        .with_row(db.Row("Gating signals"))
        .with_panel(_signal_panel())
        .with_row(db.Row("Rules and decisions"))
        .with_panel(_rule_states())
        .with_panel(_decisions())
        .with_row(db.Row("Shadow, consistency, P&L"))
    )
    for title, signals, unit in NAMED_PANELS:
        d = d.with_panel(_named_panel(title, signals, unit))
    return d
