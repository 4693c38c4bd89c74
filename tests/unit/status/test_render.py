"""The status screens: what an operator must find on them, and nothing a terminal would
interpret (control characters from the topic are neutralised)."""

from __future__ import annotations

from monitor.operators.status_view import render_rollout, render_table
from monitor.status.table import Known
from topics.status import DecisionView, RolloutView, RuleView, StageView


def view(**fields: object) -> RolloutView:
    base: dict[str, object] = {
        "rollout_id": "demo-latency",
        "plan": "bridge-routing-v2",
        "stage": "canary-5",
        "stage_index": 1,
        "stage_plan": [
            StageView(name="canary-1", traffic_pct=1.0),
            StageView(name="canary-5", traffic_pct=5.0, signoffs=["cto"]),
            StageView(name="full", traffic_pct=100.0, signoffs=["cto", "coo"]),
        ],
        "traffic_pct": 5.0,
        "status": "running",
        "verdict": "inconclusive",
        "rule_values": [
            RuleView(
                rule="p99",
                state="pending",
                value=134.4,
                threshold=102.4,
                comparator="ratio>",
                for_s=120.0,
                action="rollback",
            ),
            RuleView(
                rule="errors",
                state="inactive",
                value=0.01,
                threshold=0.02,
                comparator=">",
                healthy=True,
                action="pause",
            ),
        ],
        "signoffs_awaited": ["cto"],
        "last_decisions": [
            DecisionView(
                action="promote",
                stage="canary-1",
                reason="stage canary-1 passed",
                issued_at=1.767e9,
            ),
        ],
    }
    return RolloutView(**{**base, **fields})  # type: ignore[arg-type]


def known(v: RolloutView, stale: bool = False) -> Known:
    reason = "owner w1 silent for 9 s" if stale else ""
    return Known(v, "w1", 1.767e9, 9.0 if stale else 0.4, stale, reason)


def test_one_rollout_screen_has_what_an_operator_needs() -> None:
    text = render_rollout(known(view()))
    lines = text.splitlines()
    assert any(line.startswith("  ▶ canary-5") for line in lines)  # current stage marked
    assert any(line.startswith("  ✔ canary-1") for line in lines)  # passed stage
    assert "traffic 5%" in text
    p99 = next(line for line in lines if " p99 " in line)
    assert "pending" in p99 and "134.4" in p99 and "ratio> 102.4 for 120s" in p99
    assert "-> rollback" in p99
    assert lines.index(p99) < lines.index(next(li for li in lines if " errors " in li))
    assert "Sign-offs awaited: cto" in text
    assert "PROMOTE" in text and "stage canary-1 passed" in text
    assert "✔ ok" in text and "STALE" not in text


def test_stale_held_and_failed_read_as_such() -> None:
    assert "STALE: owner w1 silent for 9 s" in render_rollout(known(view(), stale=True))
    assert "◌ stale" in render_table([known(view(), stale=True)])
    assert "◌ held" in render_table([known(view(status="paused"))])
    rolled = render_table([known(view(status="rolled_back", verdict="fail"), stale=True)])
    assert "✖ failed" in rolled  # a stop stands, stale or not
    shadow = render_table([known(view(status="frozen", dry_run=True))])
    assert "✔ advisory (held)" in shadow  # dry run: the routes never block on it


def test_text_from_the_topic_cannot_drive_the_terminal() -> None:
    evil = view(
        rollout_id="r1",
        last_decisions=[DecisionView(action="pause", reason="\x1b[2J\x1b]0;owned\x07 boom")],
    )
    text = render_rollout(known(evil)) + render_table([known(evil)])
    assert "\x1b" not in text and "\x07" not in text and "boom" in text


def test_empty_and_unverified_tables_say_so() -> None:
    assert "no worker has published" in render_table([])
    assert "not verified" in render_table([known(view())], verified=False)
