"""The demo's story, offline: the same simulation, core, orchestrator and judge as
``rollguard demo`` without Kafka. If this fails, the live demo cannot succeed."""

from __future__ import annotations

from pathlib import Path

from monitor.demo.expect import ALL_STAGES
from monitor.demo.story import DemoOptions, run_offline


def test_demo_story_holds_offline(tmp_path: Path) -> None:
    outcomes, core = run_offline(DemoOptions(out_dir=tmp_path))
    by_id = {o.rollout_id: o for o in outcomes}
    assert [o.ok for o in outcomes] == [True, True, True], outcomes
    assert all(f"promote@{stage}" in by_id["demo-healthy"].observed for stage in ALL_STAGES)
    assert by_id["demo-latency"].observed.startswith("rollback@")
    assert "freeze@shadow" in by_id["demo-shadow"].observed
    healthy = core.view("demo-healthy")
    assert healthy is not None and healthy["status"] == "completed"
