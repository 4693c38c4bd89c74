"""The status table: which record wins, when a status turns stale, and that nothing
unsigned or forged gets in."""

from __future__ import annotations

import msgspec

import topics.status as status_module
from monitor.orchestrators.verdict import reading
from monitor.status.publisher import SignedHere, StatusPublisher
from monitor.status.table import StatusTable
from tests.keys import RING, WORKER, ring_of
from topics.keys import SigningKey
from topics.status import (
    OwnerHeartbeat,
    RolloutStatus,
    RolloutView,
    encode_status,
    heartbeat_key,
    sign_status,
    view_digest,
)

FORGER = SigningKey.generate(WORKER.key_id, "worker")  # the worker's key id, another key
T = 1_763_000_000.0


def status(rid: str, event_time: float, at: float, owner: str = "w1", **fields: object) -> bytes:
    view = RolloutView(rollout_id=rid, event_time=event_time, status="running", **fields)  # type: ignore[arg-type]
    record = RolloutStatus(owner=owner, published_at=at, view=view, digest=view_digest(view))
    return sign_status(record, WORKER)


def beat(owner: str, at: float, rollouts: dict[str, str], key: SigningKey = WORKER) -> bytes:
    return sign_status(OwnerHeartbeat(owner=owner, published_at=at, rollouts=rollouts), key)


def digest_of(table: StatusTable, rid: str) -> str:
    return table.rollouts[rid].digest


def test_a_status_is_current_while_its_owner_confirms_it() -> None:
    table = StatusTable(RING, stale_after_s=5.0)
    table.apply(b"r1", status("r1", 100.0, T), T)
    assert not table.lookup("r1", T + 4.0).stale  # type: ignore[union-attr]
    late = table.lookup("r1", T + 6.0)
    assert late is not None and late.stale and "w1" in late.stale_reason
    table.apply(heartbeat_key("w1"), beat("w1", T + 6.0, {"r1": digest_of(table, "r1")}), T + 6)
    fresh = table.lookup("r1", T + 7.0)
    assert fresh is not None and not fresh.stale and abs(fresh.age_s - 1.0) < 1e-9


def test_a_heartbeat_that_names_another_digest_does_not_confirm() -> None:
    table = StatusTable(RING, stale_after_s=5.0)
    table.apply(b"r1", status("r1", 100.0, T), T)
    table.apply(heartbeat_key("w1"), beat("w1", T + 9, {"r1": "0" * 16}), T + 9)
    assert table.lookup("r1", T + 9.5).stale  # type: ignore[union-attr]
    table.apply(heartbeat_key("w1"), beat("w1", T + 10, {}), T + 10)  # moved away
    known = table.lookup("r1", T + 10)
    assert known is not None and known.stale and "no longer reports" in known.stale_reason


def test_a_new_owner_catching_up_never_moves_the_verdict_back() -> None:
    table = StatusTable(RING)
    rolled_back = RolloutView(rollout_id="r1", event_time=500.0, status="rolled_back")
    record = RolloutStatus(owner="w1", published_at=T, view=rolled_back, digest="d1")
    table.apply(b"r1", sign_status(record, WORKER), T)
    # w2 restored an older checkpoint and replays: its views are behind in event time
    assert table.apply(b"r1", status("r1", 450.0, T + 8, owner="w2"), T + 8) == "behind"
    known = table.lookup("r1", T + 8)
    assert known is not None and known.view.status == "rolled_back"
    assert reading(msgspec.to_builtins(known.view), stale=known.stale).outcome == "failed"
    # caught up: same event time, later publication wins
    assert table.apply(b"r1", status("r1", 500.0, T + 9, owner="w2"), T + 9) == "rollout"
    assert table.rejected["behind"] == 1


def test_forged_unsigned_out_of_scope_and_misfiled_records_are_dropped() -> None:
    table = StatusTable(RING)
    view = RolloutView(rollout_id="r1", event_time=1.0, status="completed", verdict="pass")
    forged = sign_status(RolloutStatus(owner="evil", published_at=T, view=view), FORGER)
    assert table.apply(b"r1", forged, T) == "bad_signature"
    unsigned = RolloutStatus(owner="evil", published_at=T, view=view)
    assert table.apply(b"r1", encode_status(unsigned), T) == "unsigned"
    honest = sign_status(
        RolloutStatus(owner="w1", published_at=T, view=RolloutView(rollout_id="r1")), WORKER
    )
    tampered = honest.replace(b'"status":""', b'"status":"completed"')
    assert tampered != honest
    assert table.apply(b"r1", tampered, T) == "bad_signature"
    # a worker key whose ring entry covers other rollouts may not speak for this one
    narrow = SigningKey.generate("narrow-1", "worker")
    ring = ring_of(narrow.public(rollouts=("pay-*",)))
    scoped = StatusTable(ring)
    assert (
        scoped.apply(
            b"r1", sign_status(RolloutStatus(owner="w", published_at=T, view=view), narrow), T
        )
        == "not_authorized"
    )
    assert table.apply(b"r2", status("r1", 1.0, T), T) == "malformed"  # filed under r2
    assert table.apply(b"r1", b"{not json", T) == "malformed"
    assert table.apply(b"r1", honest.replace(b"{", b'{"type":"rollout",', 1), T) == "malformed"
    assert table.lookup("r1", T) is None and table.lookup("r2", T) is None
    assert table.apply(heartbeat_key("w1"), beat("w1", T, {"r1": "x"}, FORGER), T) == (
        "bad_signature"
    )
    assert table.heartbeats == {}
    assert table.apply(b"r1", honest, T) == "rollout"  # the genuine one still gets in


def test_did_you_mean_and_tombstones() -> None:
    table = StatusTable(RING)
    table.apply(b"bridge-v2-rollout", status("bridge-v2-rollout", 1.0, T), T)
    assert table.suggest("bridge-v2-rolout") == ["bridge-v2-rollout"]
    assert table.suggest("zzz") == []
    table.apply(b"bridge-v2-rollout", None, T)
    assert table.lookup("bridge-v2-rollout", T) is None


class _Core:
    """A core of two rollouts whose views the test changes."""

    def __init__(self) -> None:
        self.views = {
            "r1": {"rollout_id": "r1", "status": "running", "promotion_gaps": ["dwell 1/900s"]},
            "r2": {"rollout_id": "r2", "status": "running"},
        }

    def rollouts(self) -> list[str]:
        return sorted(self.views)

    def view(self, rid: str) -> dict[str, object] | None:
        return self.views.get(rid)


def test_the_publisher_sends_changes_at_once_values_at_most_every_refresh() -> None:
    core = _Core()
    pub = StatusPublisher(
        "t.status", "w1", WORKER, heartbeat_s=1.0, refresh_s=5.0, collect_every_s=0.0
    )
    table = StatusTable(RING)

    def drain(now: float) -> list[bytes]:
        keys = []
        for key, value in pub.take():
            table.apply(key, value, now)
            keys.append(key)
        return keys

    pub.collect(core, T)  # type: ignore[arg-type]
    assert drain(T) == [b"r1", b"r2", heartbeat_key("w1")]
    core.views["r1"]["promotion_gaps"] = ["dwell 2/900s"]  # a value: not at once
    pub.touch(["r1"])
    pub.collect(core, T + 0.5)  # type: ignore[arg-type]
    assert drain(T + 0.5) == []
    core.views["r1"]["status"] = "paused"  # a state change: at once, beat when due
    pub.collect(core, T + 1.0)  # type: ignore[arg-type]
    assert drain(T + 1.0) == [b"r1", heartbeat_key("w1")]
    assert table.lookup("r1", T + 1.0).view.status == "paused"  # type: ignore[union-attr]
    core.views["r1"]["promotion_gaps"] = ["dwell 7/900s"]
    pub.touch(["r1"])
    pub.collect(core, T + 3.0)  # type: ignore[arg-type]
    assert b"r1" not in drain(T + 3.0)
    pub.collect(core, T + 6.5)  # type: ignore[arg-type]  # no new events, refresh is due
    assert b"r1" in drain(T + 6.5)
    del core.views["r2"]  # moved to another worker: the heartbeat stops naming it
    pub.collect(core, T + 8.0)  # type: ignore[arg-type]
    drain(T + 8.0)
    assert table.lookup("r2", T + 8.0).stale  # type: ignore[union-attr]
    assert not table.lookup("r1", T + 8.0).stale  # type: ignore[union-attr]


def test_records_this_worker_signed_are_read_back_unchecked_and_nothing_else_is() -> None:
    signed = SignedHere(keep=2)
    table = StatusTable(RING, signed_here=signed)
    mine = status("r1", 100.0, T)
    signed.add(mine)
    forged = sign_status(msgspec.json.decode(mine, type=RolloutStatus), FORGER)
    signed_calls = 0
    real_verify = status_module.verify_document

    def counting(*args: object) -> object:
        nonlocal signed_calls
        signed_calls += 1
        return real_verify(*args)  # type: ignore[arg-type]

    status_module.verify_document = counting  # type: ignore[assignment]
    try:
        assert table.apply(b"r1", mine, T) == "rollout"
        assert signed_calls == 0  # its own bytes: no second check
        assert table.apply(b"r1", forged, T) == "bad_signature"  # other bytes: checked
        assert signed_calls == 1
        signed.add(status("r2", 1.0, T))
        signed.add(status("r3", 1.0, T))  # keeps two: the first is forgotten
        assert mine not in signed
        assert table.apply(b"r1", mine, T) == "rollout"
        assert signed_calls == 2
    finally:
        status_module.verify_document = real_verify  # type: ignore[assignment]
