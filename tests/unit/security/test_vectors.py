"""The signing spec's test vectors: current, and verified alike by the Python client and by
a verifier in another language written from ``docs/signing.md`` alone
(``examples/node/verify.mjs``, Node's built-in modules only)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import msgspec
import pytest

from monitor.orchestrators import Accepted, HandledStore, Policy, admit, check
from topics.keyfiles import RingFile, public_key_of
from topics.keys import KeyRing
from topics.testvectors.generate import OUT, render

ROOT = Path(__file__).resolve().parents[3]
NODE_VERIFIER = ROOT / "examples" / "node" / "verify.mjs"
VECTORS: dict[str, Any] = json.loads(OUT.read_text())
RING = KeyRing(
    [public_key_of(e) for e in msgspec.convert({"keys": VECTORS["keys"]}, RingFile).keys]
)
NOW: float = VECTORS["policy"]["now"]


def message(entry: dict[str, Any]) -> bytes:
    if "message_b64" in entry:
        return base64.b64decode(entry["message_b64"])
    return str(entry["message"]).encode()


def python_results() -> list[tuple[str, str, int | None, str, str]]:
    """(set, name, step, got, expected) for every vector, as the Python client judges it."""
    policy = Policy()
    out: list[tuple[str, str, int | None, str, str]] = []
    for v in VECTORS["valid"]:
        r = check(message(v), RING, policy, NOW)
        got = f"ok:{r.trust}" if isinstance(r, Accepted) else r.reason
        out.append(("valid", v["name"], None, got, f"ok:{v['trust']}"))
    for v in VECTORS["invalid"]:
        r = check(message(v), RING, policy, NOW)
        got = f"ok:{r.trust}" if isinstance(r, Accepted) else r.reason
        out.append(("invalid", v["name"], None, got, v["reason"]))
    for seq in VECTORS["sequences"]:
        store = HandledStore(":memory:")
        for n, step in enumerate(seq["steps"]):
            r = admit(message(step), RING, policy, store, NOW)
            if isinstance(r, Accepted):
                store.record(r.command, NOW, r.trust)
            got = "delivered" if isinstance(r, Accepted) else r.reason
            out.append(("sequence", seq["name"], n, got, step["outcome"]))
        store.close()
    return out


def test_the_vectors_file_is_current() -> None:
    assert OUT.read_bytes() == render(), "run `python -m topics.testvectors.generate`"


def test_the_vectors_cover_every_reason_a_verifier_gives() -> None:
    from monitor.orchestrators import REJECT_REASONS

    given = {v["reason"] for v in VECTORS["invalid"]} | {
        s["outcome"] for seq in VECTORS["sequences"] for s in seq["steps"]
    }
    assert set(REJECT_REASONS) - given == {"check_failed"}  # a bug, never an input's fault
    assert len(VECTORS["valid"]) >= 8 and len(VECTORS["invalid"]) >= 50


def test_python_verifies_every_vector_as_the_spec_says() -> None:
    wrong = [r for r in python_results() if r[3] != r[4]]
    assert wrong == []


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail("node is required (scripts/install dev installs it)")
    return found


def test_node_written_from_the_spec_agrees_with_python_on_every_vector() -> None:
    done = subprocess.run(
        [node(), str(NODE_VERIFIER), "vectors", str(OUT)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.stderr == ""
    node_results = [
        (d["set"], d["name"], d["step"], d["got"], d["expected"])
        for d in map(json.loads, done.stdout.splitlines())
    ]
    assert node_results == python_results()
    assert all(got == expected for *_, got, expected in node_results)
    assert done.returncode == 0
