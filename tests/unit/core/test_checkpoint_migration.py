"""Checkpoints of the previous format (version 1) restore into today's core.

``fixtures/checkpoint-v1-sample.json.gz`` is a real checkpoint written by the version-1 core
(float seconds, positional rule states, policy dict): the example plan replaying
``examples/events/sample.jsonl.gz``, cut at minute 21 with the error-rate and p99 rules
pending, a learned band, CUSUMs with evidence and one promotion made. Restored and fed the
rest of the stream, the core decides exactly what the uninterrupted run decides.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from monitor.core import Core, PlanSet, load_plans
from monitor.core.migrate import upgrade
from monitor.core.snapshot import STATE_VERSION
from topics.codec import Decoder
from topics.commands import encode_command
from topics.errors import RollguardError
from topics.events import Event

FIXTURE = Path(__file__).parent / "fixtures" / "checkpoint-v1-sample.json.gz"
PLANS = ["examples/plans/broker-bridge.yaml", "examples/rules/broker-gates.yaml"]
RID = "bridge-v2-rollout"


@pytest.fixture(scope="module")
def saved() -> dict[str, object]:
    data: dict[str, object] = orjson.loads(gzip.decompress(FIXTURE.read_bytes()))
    return data


@pytest.fixture(scope="module")
def events() -> list[Event]:
    decode = Decoder().decode
    lines = gzip.decompress(Path("examples/events/sample.jsonl.gz").read_bytes()).splitlines()
    return [ev for line in lines for ev in decode(line).events]


@pytest.fixture(scope="module")
def plans() -> PlanSet:
    return load_plans(PLANS)


def run(core: Core, events: list[Event]) -> list[bytes]:
    out = []
    for i in range(0, len(events), 256):
        out += core.process(events[i : i + 256])
    return [encode_command(c) for c in out]


def test_version_1_checkpoint_continues_with_the_same_decisions(
    saved: dict[str, object], events: list[Event], plans: PlanSet
) -> None:
    cut = saved["cut_event"]
    states = saved["states"]
    assert isinstance(cut, int) and isinstance(states, dict)
    assert states[RID]["state_version"] == 1
    uninterrupted = Core(plans)
    before = run(uninterrupted, events[:cut])
    after = run(uninterrupted, events[cut:])
    assert len(before) == 1 and after, "the cut sits between the promotion and the rollback"
    resumed = Core(plans)
    resumed.import_state(RID, states[RID])
    assert run(resumed, events[cut:]) == after
    view, expected = resumed.view(RID), uninterrupted.view(RID)
    assert view is not None and expected is not None
    # the promotion before the cut keeps the reason and the id the version-1 core gave it
    # (its plan version then hashed the rule files' paths: the id differs from today's)
    ids = [[d["command_id"] for d in v.pop("last_decisions")] for v in (view, expected)]
    written = [d["command_id"] for d in states[RID]["policy"]["last_decisions"]]
    n = len(written)
    assert ids[0][:n] == written and ids[0][n:] == ids[1][n:] and len(ids[0]) == len(ids[1])
    # a rule added to the plan after the checkpoint was written starts its memory at the
    # restore (canary-reject-causes counts rejects since then): the rest is as if never cut
    instances = states[RID]["instances"]
    assert isinstance(instances, list)
    known = {i["rule"] if isinstance(i, dict) else i[0] for i in instances}
    for v in (view, expected):
        v["rule_values"] = [x for x in v["rule_values"] if x["rule"].split("{")[0] in known]
    assert view == expected


def test_restored_state_is_written_in_the_current_format(
    saved: dict[str, object], plans: PlanSet
) -> None:
    states = saved["states"]
    assert isinstance(states, dict)
    core = Core(plans)
    core.import_state(RID, states[RID])
    state = core.export_state(RID)
    assert state["state_version"] == STATE_VERSION
    again = Core(plans)
    again.import_state(RID, orjson.loads(orjson.dumps(state)))
    assert comparable(again.export_state(RID)) == comparable(state)


def comparable(state: dict[str, object]) -> object:
    """JSON of a checkpoint with its dedupe keys (a set: any order) sorted."""
    seen = state["seen"]
    assert isinstance(seen, list)
    plain = {**state, "seen": [(step, sorted(map(repr, keys))) for step, keys in seen]}
    return orjson.loads(orjson.dumps(plain))


def test_a_latched_sequential_test_survives_the_migration() -> None:
    old = {
        "alert": ["firing", 1767225600.5, 1767225600.5, None, None],
        "learner": None,
        "last_learn": None,
        "first_value_at": None,
        "latched": True,
        "cusum": None,
        "advised": False,
        "last": None,
    }
    state = {
        "state_version": 1,
        "max_ts": 1767225601.25,
        "stage_started_at": 1767225600.0,
        "instances": [["seq", "", old]],
        "policy": {"seq": 0, "last_action": None, "last_ts": 1767225600.3},
    }
    new = upgrade("r1", state)
    (rule,) = new["rules"]  # type: ignore[misc]  # a JSON list of one rule
    assert rule["memory"] == {"latched": True}
    assert rule["alert"] == ["firing", 1_767_225_600_500_000, 1_767_225_600_500_000, None, None]
    assert new["max_ts"] == 1_767_225_601_250_000
    assert new["policy"]["last_ts"] == 1_767_225_600_300_000  # type: ignore[index]  # a JSON object


def test_unknown_or_damaged_checkpoints_are_refused(
    saved: dict[str, object], plans: PlanSet
) -> None:
    states = saved["states"]
    assert isinstance(states, dict)
    with pytest.raises(RollguardError, match="unknown state version"):
        Core(plans).import_state(RID, {**states[RID], "state_version": 99})
    with pytest.raises(RollguardError, match="unreadable"):
        Core(plans).import_state(RID, {**states[RID], "instances": "nope"})
    current = Core(plans)
    current.import_state(RID, states[RID])
    with pytest.raises(RollguardError, match="unreadable checkpoint"):
        Core(plans).import_state(RID, {**current.export_state(RID), "max_ts": "soon"})
