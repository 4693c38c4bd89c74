"""Commands the real core decides, signed as a worker signs them, pass the client's checks
after the wire round trip. (The core writes ints into float evidence fields, e.g.
``observed=629`` for a drawdown in minor units: before ``sign`` hashed the decoded form,
every such command failed verification at every orchestrator.)"""

from __future__ import annotations

import gzip
from pathlib import Path

from monitor.core import Core, load_plans
from monitor.orchestrators import Accepted, Policy, check
from tests.keys import RING, WORKER
from topics.codec import Decoder
from topics.commands import encode_command, sign

ROOT = Path(__file__).resolve().parents[3]


def test_core_decisions_verify_at_the_client() -> None:
    core = Core(
        load_plans(
            [ROOT / "examples/plans/broker-bridge.yaml", ROOT / "examples/rules/broker-gates.yaml"]
        )
    )
    decoder = Decoder()
    lines = gzip.decompress((ROOT / "examples/events/sample.jsonl.gz").read_bytes()).splitlines()
    commands = core.process([e for line in lines for e in decoder.decode(line).events])
    assert len(commands) >= 2 and any(c.evidence for c in commands)
    for command in commands:
        wire = encode_command(sign(command, WORKER))
        result = check(wire, RING, Policy(deliver_advisory=True), now=command.issued_at + 1)
        assert isinstance(result, Accepted), (command.action, result)
