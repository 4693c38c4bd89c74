"""*Rollouts overview*: every active rollout, its stage, traffic, verdict and last decision.

One row per rollout in a table joined from instant queries (Grafana ``merge``), with a link on
the rollout name to the *Rollout detail* dashboard; firing rules listed underneath; decisions
over time for all rollouts.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from dashboards import panels as p
from dashboards.annotations import decisions_annotation, grafana_decisions_annotation

# -- queries (module constants so tests and docs can name them) ---------------------------
ACTIVE = "count(rollguard_rollout_info) or vector(0)"
FIRING_ROLLOUTS = "count(count by (rollout) (rollguard_rule_state == 2)) or vector(0)"
# rollguard_rollout_info's verdict is pass/fail/inconclusive: a stop is the last decision
STOPPED = (
    'count(rollguard_last_decision_info{action=~"halt|rollback|freeze|pause", '
    'advisory="false"}) or vector(0)'
)
DECISIONS = "sum(rollguard_decisions_total) or vector(0)"

T_INFO = "max by (rollout, stage, verdict) (rollguard_rollout_info)"
T_TRAFFIC = "max by (rollout) (rollguard_rollout_traffic_pct)"
T_FIRING = "sum by (rollout) (rollguard_rule_state == bool 2)"
T_LAST_ACTION = (
    "topk by (rollout) (1, max by (rollout, action) (rollguard_last_decision_timestamp_seconds))"
)
T_SINCE = "time() - max by (rollout) (rollguard_last_decision_timestamp_seconds)"

FIRING_RULES = "max by (rollout, rule) (rollguard_rule_state) > 0"
DECISION_COUNT = "sum by (rollout, action) (rollguard_decisions_total)"
"""Cumulative, not increase(): a decision counter series is born at 1 with the first
decision of its labels, and increase()/rate() never count that first one."""


def _stat(title: str, expr: str, *, red_from: float | None) -> stat.Panel:
    return p.stat_panel(title, expr, red_from=red_from, color_mode=cm.BigValueColorMode.BACKGROUND)


def _rollouts_table() -> table.Panel:
    targets = [
        p.query(T_INFO, ref="info", instant=True, table=True),
        p.query(T_TRAFFIC, ref="traffic", instant=True, table=True),
        p.query(T_FIRING, ref="firing", instant=True, table=True),
        p.query(T_LAST_ACTION, ref="last", instant=True, table=True),
        p.query(T_SINCE, ref="since", instant=True, table=True),
    ]
    return (
        table.Panel()
        .title("Active rollouts")
        .description(
            "Stage, traffic share of the new path, current verdict, number of firing rules, "
            "last decision and time since. Click a rollout for its detail dashboard."
        )
        .datasource(p.DS)
        .targets(targets)
        .with_transformation(p.merge())
        .with_transformation(
            p.organize(
                rename={
                    "Value #traffic": "traffic %",
                    "Value #firing": "firing rules",
                    "action": "last decision",
                    "Value #since": "since last decision",
                },
                exclude=["Time", "Value #info", "Value #last"],
            )
        )
        .show_header(True)
        .override_by_name(
            "rollout",
            [dm.DynamicConfigValue(id_val="links", value=[p.link_to_detail("Rollout detail")])],
        )
        .override_by_name("since last decision", [dm.DynamicConfigValue(id_val="unit", value="s")])
        .override_by_name(
            "firing rules",
            [
                dm.DynamicConfigValue(
                    id_val="thresholds",
                    value=p.steps((None, "green"), (1, "red")).build(),
                ),
                dm.DynamicConfigValue(
                    id_val="custom.cellOptions", value={"type": "color-background"}
                ),
            ],
        )
        .height(10)
        .span(24)
    )


def _firing_rules() -> table.Panel:
    return (
        table.Panel()
        .title("Pending and firing rules")
        .datasource(p.DS)
        .with_target(p.query(FIRING_RULES, instant=True, table=True))
        .with_transformation(p.organize(rename={"Value": "state"}, exclude=["Time"]))
        .show_header(True)
        .mappings(p.value_text(p.RULE_STATE_MAPPING))
        .override_by_name(
            "rollout",
            [dm.DynamicConfigValue(id_val="links", value=[p.link_to_detail("Rollout detail")])],
        )
        .height(8)
        .span(12)
    )


def _decisions() -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title("Decisions (cumulative)")
        .datasource(p.DS)
        .with_target(p.query(DECISION_COUNT, "{{rollout}} {{action}}"))
        .line_interpolation(cm.LineInterpolation.STEP_AFTER)
        .line_width(2)
        .fill_opacity(0)
        .legend(p.legend_table())
        .tooltip(p.tooltip_multi())
        .unit("short")
        .height(8)
        .span(12)
    )


def build() -> db.Dashboard:
    return (
        db.Dashboard("Rollouts overview")
        .uid(p.OVERVIEW_UID)
        .description("Every active rollout guarded by rollguard: stage, traffic, verdict.")
        .tags(p.TAGS)
        .time("now-1h", "now")
        .refresh("10s")
        .timezone("browser")
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .with_variable(p.datasource_variable())
        .annotation(decisions_annotation(rollout_filter=".*"))
        .annotation(grafana_decisions_annotation(["rollguard"]))
        .link(
            db.DashboardLink("rollguard")
            .type(dm.DashboardLinkType.DASHBOARDS)
            .tags(p.TAGS)
            .as_dropdown(True)
            .include_vars(False)
            .keep_time(True)
        )
        .with_panel(_stat("Active rollouts", ACTIVE, red_from=None))
        .with_panel(_stat("Rollouts with firing rules", FIRING_ROLLOUTS, red_from=1))
        .with_panel(_stat("Stopped (halt, rollback, freeze, pause)", STOPPED, red_from=1))
        .with_panel(_stat("Decisions (since workers started)", DECISIONS, red_from=None))
        .with_panel(_rollouts_table())
        .with_panel(_firing_rules())
        .with_panel(_decisions())
    )
