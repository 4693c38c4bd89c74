"""Issue #16, the control side, on the real broker: poison on the control topic never stops
an orchestrator. Hostile messages (a real key id with a bad signature and a 2**64 ``seq``,
deep nesting, NaN, invalid UTF-8, 900 KB, a newline in ``command_id``, duplicate members) sit
before an operator HALT: ``ControlClient.run()`` skips and counts each with its reason,
commits past it, delivers the HALT, keeps running, and does the same after a restart.
Nothing from the messages reaches the log raw."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest

from monitor.operators.controls import operator_command
from tests.hostile import GENUINE
from tests.integration.orchestrator.support import Harness, produce, worker_command
from tests.keys import OPERATOR
from tests.secrets import assert_clean
from topics.commands import encode_command
from topics.config import TopicsConfig

POISON: list[tuple[bytes, str]] = [
    (json.dumps(GENUINE | {"seq": 2**64, "signature": "0" * 128}).encode(), "malformed"),
    (json.dumps(GENUINE | {"evidence": [{"rule": "r", "signal": "s", "variant": "canary",
                                          "samples": 2**64}]}).encode(), "malformed"),
    (b'{"v":1,"evidence":' + b"[" * 20_000 + b"]" * 20_000 + b"}", "malformed"),
    (json.dumps(GENUINE).replace('"seq": 1', '"seq": NaN').encode(), "malformed"),
    (json.dumps(GENUINE).encode().replace(b"rollback", b"roll\xffback"), "malformed"),
    (json.dumps(GENUINE | {"reason": "x" * 900_000}).encode(), "oversized"),
    (json.dumps(GENUINE | {"command_id": "abcdefgh\n2026 INFO delivered HALT"}).encode(),
     "malformed"),
    (json.dumps(GENUINE).replace("{", '{"action": "promote", ', 1).encode(), "malformed"),
    (b"\x00\x01 not json", "malformed"),
]  # fmt: skip


def run_in_thread(harness: Harness, group: str) -> tuple[threading.Thread, threading.Event, list]:
    stop = threading.Event()
    holder: list = []

    def target() -> None:
        with harness.client(group=group) as client:
            holder.append(client)
            client.run(stop, poll_timeout_s=0.2)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, stop, holder


def wait(condition, timeout_s: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.timeout(180)
def test_poison_before_a_halt_never_stops_the_client_nor_the_halt(
    bootstrap: str, topics_config: TopicsConfig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    halt = operator_command(OPERATOR, rollout_id="r1", action="halt", reason="P&L limit")
    produce(bootstrap, topics_config.control, [m for m, _ in POISON] + [encode_command(halt)])
    harness = Harness(bootstrap, topics_config, tmp_path / "state.sqlite")
    caplog.set_level(logging.INFO, logger="rollguard.client")

    thread, stop, holder = run_in_thread(harness, "poisoned")
    wait(lambda: harness.handled == [halt])
    client = holder[0]
    wait(lambda: _rejected(client) == len(POISON))
    assert thread.is_alive()  # the loop goes on
    for reason in {r for _, r in POISON}:
        expected = sum(1 for _, r in POISON if r == reason)
        got = client.metrics.registry.get_sample_value(
            "rollguard_client_rejected_total", {"reason": reason}
        )
        assert got == expected, reason
    stop.set()
    thread.join(30)
    assert not thread.is_alive()

    # restart on the same group: every poison offset was committed, nothing comes back;
    # new poison after the HALT is skipped too, and the HALT still holds a worker's promote
    promote = worker_command("r1", action="promote", seq=5)
    produce(bootstrap, topics_config.control, [POISON[0][0], POISON[2][0], encode_command(promote)])
    thread, stop, holder = run_in_thread(harness, "poisoned")
    wait(lambda: bool(holder) and _rejected(holder[0]) == 3)
    client = holder[0]
    assert (
        client.metrics.registry.get_sample_value(
            "rollguard_client_rejected_total", {"reason": "halted"}
        )
        == 1
    )
    assert harness.handled == [halt]
    resume = operator_command(OPERATOR, rollout_id="r1", action="resume", reason="fixed")
    later = worker_command("r1", action="promote", seq=6, issued_at=time.time() + 1)
    produce(bootstrap, topics_config.control, [encode_command(resume), encode_command(later)])
    wait(lambda: harness.handled == [halt, resume, later])
    stop.set()
    thread.join(30)

    lines = [r.getMessage() for r in caplog.records]
    assert all("\n" not in line and "\x1b" not in line for line in lines)
    assert not any("INFO delivered HALT" in line for line in lines)
    assert_clean(caplog.text, "client log")


def _rejected(client) -> float:  # type: ignore[no-untyped-def]
    registry = client.metrics.registry
    return sum(
        registry.get_sample_value("rollguard_client_rejected_total", {"reason": reason}) or 0
        for reason in ("malformed", "oversized", "halted", "unsigned", "bad_signature")
    )
