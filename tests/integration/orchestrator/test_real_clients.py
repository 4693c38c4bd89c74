"""Argo Rollouts' and Flagger's own client code against two live workers behind one
round-robin address (a Service): healthy warm-up, a blip, a sustained regression, a halt,
an unknown rollout and a stopped owner.

``tests/goclients`` is built here (Go modules from the module proxy, cached in
``~/.cache/rollguard/go``): cold, downloading and compiling Argo's and Flagger's packages
took 5 min 37 s on this 2-core machine, then seconds. Without Go the test skips and says why.
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor.sim.synthetic import StreamSpec, generate
from tests.integration.orchestrator.support import produce as produce_raw
from tests.integration.worker.support import (
    WorkerProcess,
    metric,
    offline,
    produce,
    start_worker,
    wait_for,
)
from tests.keys import WORKER, key_env
from topics.config import TopicsConfig
from topics.events import Event, Plan
from topics.keys import SigningKey
from topics.status import RolloutStatus, RolloutView, encode_status, sign_status

ROOT = Path(__file__).resolve().parents[3]
GO_DIR = ROOT / "tests" / "goclients"
CACHE = Path.home() / ".cache" / "rollguard" / "go"
TOKEN = "verdict-token-0123456789"
START = 1_767_225_600.0


def build_goclients(out: Path) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip("Go is not installed: the real Argo Rollouts / Flagger clients cannot be built")
    env = {
        **os.environ,
        "GOMODCACHE": str(CACHE / "mod"),
        "GOCACHE": str(CACHE / "build"),
        "GOFLAGS": "-mod=mod",
    }
    binary = out / "goclients"
    started = time.monotonic()
    subprocess.run(
        [go, "build", "-o", str(binary), "."], cwd=GO_DIR, env=env, check=True, timeout=1500
    )
    print(f"goclients built in {time.monotonic() - started:.1f} s")
    return binary


class RoundRobin:
    """A loopback TCP proxy that hands each connection to the next live backend (a Service:
    a backend that refuses connections is skipped, as kube-proxy drops a dead endpoint)."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.next = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client: socket.socket) -> None:
        for _ in range(len(self.ports)):
            port = self.ports[self.next % len(self.ports)]
            self.next += 1
            try:
                upstream = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                continue
        else:
            client.close()
            return

        def copy(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)

        threading.Thread(target=copy, args=(upstream, client), daemon=True).start()
        copy(client, upstream)

    def close(self) -> None:
        self.server.close()


def stream(
    rid: str, seed: int, regress_at: float | None = None, blip: float | None = None
) -> list[Event]:
    spec = StreamSpec(
        rollout_id=rid,
        seconds=240,
        baseline_per_s=20,
        canary_per_s=10,
        shadow_per_s=0,
        seed=seed,
        start=START,
    )
    healthy = generate(spec)
    if regress_at is not None:
        return generate(dataclasses.replace(spec, regress_at=regress_at))
    if blip is None:
        return healthy
    bad = generate(dataclasses.replace(spec, regress_at=blip))
    window = (START + blip, START + blip + 8.0)
    return sorted(
        [e for e in healthy if not window[0] <= e.ts < window[1]]
        + [e for e in bad if window[0] <= e.ts < window[1]],
        key=lambda e: e.ts,
    )


def pending_during(events: list[Event], start: float, end: float) -> set[str]:
    """Rules the core holds pending between ``start`` and ``end`` (event time) over ``events``."""
    from monitor.core import Core, load_plans
    from tests.integration.worker.support import PLANS

    core = Core(load_plans([str(p) for p in PLANS]))
    pending: set[str] = set()

    def observe(rollout: Any, step: int) -> None:
        if start <= step * rollout.res <= end:
            pending.update(i.label for i in rollout.stage_rules() if i.alert.state == "pending")

    core.observer = observe
    core.process(events)
    return pending


@pytest.fixture
def fleet(
    bootstrap: str, topics_config: TopicsConfig, tmp_path: Path
) -> Iterator[tuple[list[WorkerProcess], RoundRobin]]:
    workers = [
        start_worker(
            bootstrap,
            topics_config,
            f"w{i}",
            tmp_path,
            extra_args=["--status-stale-after", "3"],
        )
        for i in range(2)
    ]
    for w in workers:
        w.wait_healthy()
    proxy = RoundRobin([w.http_port for w in workers])
    try:
        yield workers, proxy
    finally:
        proxy.close()
        for w in workers:
            w.stop()


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_argo_and_flagger_clients_against_a_two_worker_fleet(
    bootstrap: str,
    topics_config: TopicsConfig,
    tmp_path: Path,
    fleet: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    binary = build_goclients(tmp_path)
    workers, proxy = fleet
    base = f"http://127.0.0.1:{proxy.port}"

    def measure(*rollouts: str) -> dict[str, dict[str, Any]]:
        done = subprocess.run(
            [str(binary), "-docs", str(ROOT / "docs/orchestrators.md"), "-base", base,
             "-token", TOKEN, "-rollouts", ",".join(rollouts)],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        return {r["rollout"]: r for r in map(orjson.loads, done.stdout.splitlines())}

    halt = Plan(v=1, rollout_id="fleet-halt", variant="canary", ts=START + 125, action="aborted")
    streams = {
        "fleet-healthy": stream("fleet-healthy", 1),
        "fleet-blip": stream("fleet-blip", 2, blip=90.0),
        "fleet-regress": stream("fleet-regress", 3, regress_at=90.0),
        "fleet-halt": sorted([*stream("fleet-halt", 4), halt], key=lambda e: e.ts),
    }
    expected = offline([e for s in streams.values() for e in s])
    decided = {c.rollout_id: c.action for c in expected if c.action != "promote"}
    assert decided == {"fleet-regress": "rollback"}  # the blip stays below every `for`
    # ... but it does drive rollback rules pending, which the fleet must not read as failure
    assert "canary-latency-shift" in pending_during(streams["fleet-blip"], START + 90, START + 110)
    events = list(heapq.merge(*streams.values(), key=lambda e: e.ts))
    names = [*streams, "fleet-unknown"]

    def known() -> int:
        body = orjson.loads(workers[0].get("/rollouts")[1])
        return sum(1 for r in body["rollouts"] if r["rollout_id"] in streams)

    seen: dict[str, list[str]] = {rid: [] for rid in names}
    flagger: dict[str, list[dict[str, str]]] = {rid: [] for rid in names}
    chunk = 20.0  # event-time seconds per step: about one orchestrator interval
    t = START
    while t < START + 240:
        produce(bootstrap, topics_config.telemetry, [e for e in events if t <= e.ts < t + chunk])
        t += chunk
        if t == START + chunk:
            wait_for(lambda: known() == len(streams), 60)
        time.sleep(1.5)
        for rid, r in measure(*names).items():
            seen[rid].append(r["argo_phase"])
            flagger[rid].append(r["flagger"])
    print("argo phases:", seen)

    for rid in ("fleet-healthy", "fleet-blip"):  # warming up and a blip: never a stop
        assert set(seen[rid]) == {"Successful"}, (rid, seen[rid])
        assert all(f["rollout"] == "pass" and f["rollback"] == "fail" for f in flagger[rid])
        assert all(f["confirm-traffic-increase"] == "pass" for f in flagger[rid])
    for rid in ("fleet-regress", "fleet-halt"):  # Successful until the decision, then Failed
        first = seen[rid].index("Failed")
        assert set(seen[rid][:first]) <= {"Successful"} and set(seen[rid][first:]) == {"Failed"}
        assert flagger[rid][-1] == {
            "rollout": "fail", "confirm-traffic-increase": "fail",
            "confirm-promotion": "fail", "rollback": "pass",
        }  # fmt: skip
    assert set(seen["fleet-unknown"]) == {"Error"}  # a typo never passes
    assert all(set(f.values()) == {"fail"} for f in flagger["fleet-unknown"])

    # humans: `rollguard status` reads the same topic, plain text in a pipe
    prefix = topics_config.status.removesuffix(".status")
    env = {**os.environ, **key_env(tmp_path / "keys"), "PYTHONPATH": str(ROOT)}
    cli = [sys.executable, "-m", "monitor.cli", "status", "-b", bootstrap, "--topic-prefix", prefix]
    table = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=60, check=True)
    rows = {line.split()[0]: line for line in table.stdout.splitlines()[1:]}
    assert set(rows) == set(streams) and "\x1b" not in table.stdout
    assert "rolled_back" in rows["fleet-regress"] and "✖ failed" in rows["fleet-regress"]
    assert "aborted" in rows["fleet-halt"] and "✔ ok" in rows["fleet-healthy"]
    one = subprocess.run(
        [*cli, "fleet-regress"], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert "ROLLBACK" in one.stdout and "▶ canary-1" in one.stdout
    typo = subprocess.run(
        [*cli, "fleet-regres"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert typo.returncode == 1 and "fleet-regress" in typo.stderr  # did you mean

    # a forged status (not the workers' key) claiming the rolled-back rollout is promotable,
    # far ahead in event time, and an unsigned one: every worker drops them
    lie = RolloutView(rollout_id="fleet-regress", event_time=START + 9999, status="completed")
    forged = sign_status(
        RolloutStatus(owner="w0", published_at=time.time(), view=lie, digest="x"),
        SigningKey.generate(WORKER.key_id, "worker"),  # the workers' key id, another key
    )
    unsigned = RolloutStatus(owner="w0", published_at=time.time(), view=lie)
    produce_raw(
        bootstrap, topics_config.status, [forged, encode_status(unsigned)], key=b"fleet-regress"
    )
    for w in workers:
        wait_for(lambda w=w: metric(w, "rollguard_status_rejected_total") >= 2, 30)
    r = measure("fleet-regress")["fleet-regress"]
    assert r["argo_phase"] == "Failed" and r["flagger"]["confirm-promotion"] == "fail"

    # stop the owner of the healthy rollout: the survivor answers, nothing wrong in between
    owner = orjson.loads(workers[0].get("/rollouts/fleet-healthy")[1])["owner"]
    victim = next(w for w in workers if w.log_path.stem == owner)
    survivor = next(w for w in workers if w is not victim)
    killed_at = time.monotonic()
    victim.kill()
    during: list[tuple[float, str, str, str]] = []
    while True:
        r = measure("fleet-healthy", "fleet-regress")
        value = orjson.loads(r["fleet-healthy"]["argo_value"] or b"{}")
        during.append(
            (
                time.monotonic() - killed_at,
                r["fleet-healthy"]["argo_phase"],
                r["fleet-regress"]["argo_phase"],
                r["fleet-healthy"]["flagger"]["rollout"],
            )
        )
        if value.get("owner") == survivor.log_path.stem and not value.get("stale"):
            break
        assert time.monotonic() - killed_at < 90, during
        time.sleep(0.3)
    handover = during[-1][0]
    print(f"hand-over after SIGKILL of {owner}: {handover:.1f} s, {len(during)} measurements")
    assert all(h in ("Successful", "Inconclusive") for _, h, _, _ in during), during
    assert all(reg == "Failed" for _, _, reg, _ in during), during
    assert during[-1][1] == "Successful"
