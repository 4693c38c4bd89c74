"""A rollout's checkpoint is the same bytes in every process: nothing in it follows the
interpreter's string hashes (set order), so a checkpoint can be compared, deduplicated and
diffed across workers and restarts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

EXPORT = """
import sys
import orjson
from monitor.core import Core, load_plans
from monitor.sim.synthetic import StreamSpec, generate

plans = load_plans(["examples/plans/broker-bridge.yaml", "examples/rules/broker-gates.yaml"])
events = generate(StreamSpec(rollout_id="r1", seconds=12, baseline_per_s=30, canary_per_s=20,
                             shadow_per_s=5, seed=3))
core = Core(plans)
core.process(events[: len(events) * 2 // 3])  # mid-stream: dedupe keys of unevaluated steps
state = core.export_state("r1")
assert any(keys for _, keys in state["seen"]), "the checkpoint must hold dedupe keys"
sys.stdout.buffer.write(orjson.dumps(state))
"""


def test_exported_state_is_byte_identical_across_hash_seeds() -> None:
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", EXPORT],
            check=True,
            cwd=ROOT,
            env=env,
            capture_output=True,
            timeout=120,
        )
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]
