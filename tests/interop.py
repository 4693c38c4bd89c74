"""Python and the Node verifier (``examples/node/verify.mjs``, written from
``docs/signing.md``) judge the same messages; tests compare the two."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from monitor.orchestrators import Accepted
from monitor.orchestrators.checks import verify_command
from topics.keys import KeyRing

ROOT = Path(__file__).resolve().parent.parent
NODE_VERIFIER = ROOT / "examples" / "node" / "verify.mjs"


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail("node is required (scripts/install dev installs it)")
    return found


def node_verdicts(ring_file: Path, messages: list[bytes]) -> list[str]:
    """What the Node verifier says of each message (stateless checks, time not judged)."""
    lines = "".join(
        json.dumps({"id": i, "b64": base64.b64encode(m).decode()}) + "\n"
        for i, m in enumerate(messages)
    )
    done = subprocess.run(
        [node(), str(NODE_VERIFIER), "check", str(ring_file), "--no-time"],
        input=lines, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and done.stderr == "", done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert [a["id"] for a in answers] == list(range(len(messages)))
    return [str(a["got"]) for a in answers]


def python_verdicts(ring: KeyRing, messages: list[bytes]) -> list[str]:
    """What the Python client's stateless checks say (time not judged, as for Node above)."""
    out = []
    for message in messages:
        result = verify_command(message, ring)
        out.append(f"ok:{result.trust}" if isinstance(result, Accepted) else result.reason)
    return out


def tampered(message: bytes) -> list[bytes]:
    """Variants of a signed command a verifier must refuse: every member changed after
    signing, one at a time, plus a member added and the signature's first digit flipped."""
    doc: dict[str, Any] = json.loads(message)
    out = []
    for name, value in doc.items():
        if name == "signature":
            flipped = ("0" if value[:1] != "0" else "1") + value[1:]
            out.append(json.dumps({**doc, name: flipped}).encode())
            continue
        if isinstance(value, bool):
            changed: Any = not value
        elif isinstance(value, int | float):
            changed = value + 1
        elif isinstance(value, str):
            changed = value + "x" if name != "v" else "2"
        elif isinstance(value, list):
            changed = [*value, {"rule": "x", "signal": "y", "variant": "canary"}]
        else:
            changed = "x"
        out.append(json.dumps({**doc, name: changed}).encode())
    out.append(json.dumps({**doc, "extra": 1}).encode())
    return out
