"""The demo's orchestrator side: watch the control topic, verify every command, and act the
way a deploy tool and its humans would (move traffic on promote, sign off gated stages)."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from monitor.core import PlanSet
from monitor.demo.keys import SIGNERS
from monitor.operators.tail import status_of
from monitor.orchestrators.reader import read_topic
from monitor.sim.generate import Simulation
from topics.commands import Command
from topics.control_plane import sign_event
from topics.events import SCHEMA_VERSION, Event, Signoff
from topics.keys import KeyRing, SigningKey


@dataclass
class Seen:
    status: str  # ok:worker, ok:operator, or why it was not trusted
    command: Command
    wall_s: float
    raw: bytes = b""
    """The message as it came (the cross-language check verifies it again)."""


@dataclass
class ControlWatcher:
    """Follows the control topic in a thread; keeps every command with its verification."""

    bootstrap: str
    topic: str
    keys: KeyRing
    """Public keys only: what a real orchestrator holds."""
    clock: Callable[[], float] = time.time
    seen: list[Seen] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _handed: int = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="control-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for message in read_topic(
            self.bootstrap, self.topic, follow=True, should_stop=self._stop.is_set
        ):
            # verification as an orchestrator does it; expiry is judged at arrival
            status, command = status_of(message.value, self.keys, self.clock())
            if command is not None:
                with self._lock:
                    self.seen.append(Seen(status, command, time.monotonic(), message.value))

    def new(self) -> list[Seen]:
        """Commands that arrived since the last call."""
        with self._lock:
            fresh = self.seen[self._handed :]
            self._handed = len(self.seen)
        return fresh

    def all(self) -> list[Seen]:
        with self._lock:
            return list(self.seen)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def write_messages(seen: list[Seen], path: Path) -> None:
    """The control topic's messages as they came, with the watcher's verdict, one JSON line
    each (``status``, ``b64``): anyone can verify them again with their own code and the
    demo's ``keys/trusted-keys.json`` (``docs/signing.md``)."""
    with path.open("wb") as out:
        for item in seen:
            line = {"status": item.status, "b64": base64.b64encode(item.raw).decode()}
            out.write(orjson.dumps(line) + b"\n")


class DemoOrchestrator:
    """Obeys verified worker commands for the simulated deploy: on ``promote`` it moves the
    canary's traffic to the next stage's share, and the people a stage names sign it off
    (each with their own key, when ``signers`` are given)."""

    def __init__(
        self,
        plans: PlanSet,
        plan_of: dict[str, str],
        signers: Mapping[str, SigningKey] | None = None,
    ) -> None:
        self._plans = plans
        self._plan_of = plan_of
        self._signers = signers or {}

    def act(self, sim: Simulation, seen: list[Seen]) -> Iterator[Event]:
        """Apply the commands to the simulation; yield events to publish (sign-offs)."""
        for item in seen:
            command = item.command
            if not item.status.startswith("ok") or command.action != "promote":
                continue
            if command.advisory or command.rollout_id not in self._plan_of:
                continue
            stages = self._plans.plans[self._plan_of[command.rollout_id]].stages
            names = [s.name for s in stages]
            if command.stage not in names or names.index(command.stage) + 1 >= len(names):
                continue
            nxt = stages[names.index(command.stage) + 1]
            sim.set_traffic(command.rollout_id, float(nxt.traffic_pct or 0.0))
            for role in nxt.signoffs:
                signoff = Signoff(
                    v=SCHEMA_VERSION,
                    rollout_id=command.rollout_id,
                    variant="canary",
                    ts=round(sim.now, 6),
                    stage=nxt.name,
                    role=role,
                    by=SIGNERS.get(role, role),
                    note="signed in the demo",
                )
                signer = self._signers.get(role)
                yield signoff if signer is None else sign_event(signoff, signer)
