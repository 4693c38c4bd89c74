"""Write ``topics/testvectors/commands.json``: ``python -m topics.testvectors.generate``.

The vectors of ``docs/signing.md`` §13. Everything is deterministic (keys from public seeds,
Ed25519 signatures are deterministic, fixed times), so a test can regenerate the file and
compare. The keys are test keys: their seeds are in this file, so never trust them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from topics.keyfiles import ring_entry
from topics.keys import KeyRing, Role, SigningKey
from topics.signing import canonical

OUT: Final = Path(__file__).with_name("commands.json")
NOW: Final = 1_800_000_000.0
POLICY: Final = {
    "now": NOW,
    "max_command_bytes": 65_536,
    "clock_skew_s": 30,
    "max_lifetime_s": 86_400,
    "deliver_advisory": False,
}


def _key(key_id: str, role: Role, name: str | None = None) -> SigningKey:
    seed = hashlib.sha256(b"rollguard test vector key " + key_id.encode()).digest()
    return SigningKey.from_seed(key_id, role, seed, name)


WORKER: Final = _key("vec-worker-1", "worker")
ANA: Final = _key("vec-ana-1", "operator", "ana")
BOB: Final = _key("vec-bob-1", "operator", "bob")
STRANGER: Final = _key("vec-stranger-1", "worker")  # not in the ring
RING: Final = KeyRing([
    WORKER.public(rollouts=("pay-*", "r1")),
    ANA.public(signoff_roles=frozenset({"cto"})),
    BOB.public(rollouts=("pay-*",)),
])  # fmt: skip


def command(name: str, key: SigningKey | None = WORKER, **fields: Any) -> dict[str, Any]:
    """A command as rollguard writes it (every member present), signed by ``key``."""
    operator = key is not None and key.role == "operator"
    body: dict[str, Any] = {
        "v": 1,
        "command_id": f"vec-{name}",
        "rollout_id": "pay-eu",
        "stage": "*" if operator else "canary-5",
        "action": "halt" if operator else "promote",
        "reason": "stage canary-5 passed",
        "rule": None,
        "evidence": [],
        "advisory": False,
        "seq": 1,
        "rule_set_version": "operator" if operator else "rs-1",
        "issued_at": NOW,
        "expires_at": NOW + 300,
        "monitor_version": "0.1.0",
        "issuer": f"operator:{key.name}" if operator and key else "worker",
        "key_id": "",
        "signature": "",
    }
    body.update(fields)
    return signed(body, key) if key is not None else body


def signed(body: dict[str, Any], key: SigningKey) -> dict[str, Any]:
    out = {**body, "key_id": key.key_id}
    out["signature"] = key.sign(canonical(out))
    return out


def text(doc: dict[str, Any]) -> str:
    """The wire form: compact, members in rollguard's order, floats with a fraction."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def replace(doc: dict[str, Any], **fields: Any) -> str:
    """The signed ``doc`` with members changed after signing."""
    return text({**doc, **fields})


EVIDENCE: Final = [
    {
        "rule": "canary-p99-latency",
        "signal": "latency_p99_ms",
        "variant": "canary",
        "segment": {"region": "eu", "venue": "x\u00e9"},
        "observed": 134.444,
        "baseline": 102.39600000000002,
        "threshold": 1.3,
        "comparator": "ratio>",
        "window_s": 60.0,
        "for_s": 120,
        "samples": 140,
        "from_ts": 1799999880.25,
        "to_ts": 1800000000.0,
        "stats": {"p_value": 5e-7, "e_value": 1e21, "zero": -0.0, "tiny": 0.0},
        "examples": ["c-1", "c-\u2028-2"],
    }
]


def minimal() -> dict[str, Any]:
    """A worker command with the required members only, signed."""
    required = ("v", "command_id", "rollout_id", "stage", "action", "reason", "issued_at",
                "expires_at")  # fmt: skip
    body = command("worker-minimal", None, action="pause")
    return signed({k: v for k, v in body.items() if k in required}, WORKER)


def valid() -> list[dict[str, Any]]:
    promote = command("worker-promote")
    rollback = command(
        "worker-rollback",
        action="rollback",
        rollout_id="r1",
        reason='p99 1.31\u00d7 baseline for 120 s \u2014 \U0001f6a8 "quoted" \\ \t tab',
        rule="canary-p99-latency",
        evidence=EVIDENCE,
        seq=7,
        issued_at=NOW + 0.125,
        expires_at=NOW + 300.125,
    )
    halt_all = command("ana-halt-all", ANA, rollout_id="*", reason="exchange incident")
    resume = command("bob-resume", BOB, action="resume", reason="fixed")
    spellings = (
        text(rollback)
        .replace('"zero":-0.0', '"zero":-0e5')
        .replace('"tiny":0.0', '"tiny":1e-400')
        .replace('"window_s":60.0', '"window_s":6E+1')
    )
    spaced = json.dumps(dict(reversed(list(promote.items()))), indent=2)
    escaped = (
        text(promote).replace('"action"', '"\\u0061ction"').replace('"promote"', '"pro\\u006dote"')
    )
    return [
        {"name": "worker-promote", "message": text(promote), "trust": "worker"},
        {"name": "worker-rollback-with-evidence", "message": text(rollback), "trust": "worker"},
        {"name": "operator-halt-every-rollout", "message": text(halt_all), "trust": "operator"},
        {"name": "operator-resume-in-scope", "message": text(resume), "trust": "operator"},
        {"name": "only-required-members", "message": text(minimal()), "trust": "worker"},
        {"name": "numbers-spelled-otherwise", "message": spellings, "trust": "worker"},
        {"name": "members-reordered-and-spaced", "message": spaced, "trust": "worker"},
        {"name": "escaped-names-and-values", "message": escaped, "trust": "worker"},
        {
            "name": "ascii-escaped-unicode",
            "message": json.dumps(rollback, separators=(",", ":"), ensure_ascii=True),
            "trust": "worker",
        },
    ]


def invalid() -> list[dict[str, Any]]:
    promote = command("worker-promote")
    wire = text(promote)
    cases: list[tuple[str, str | bytes, str]] = [
        ("oversized", '{"v":1,"pad":"' + "x" * 65_536 + '"}', "oversized"),
        ("not-utf8", wire.encode().replace(b"canary-5", b"canary-\xff"), "malformed"),
        (
            "utf8-encoded-surrogate",
            wire.encode().replace(b"canary", b"\xed\xa0\x80anary"),
            "malformed",
        ),
        ("byte-order-mark", b"\xef\xbb\xbf" + wire.encode(), "malformed"),
        ("not-json", wire[:-1], "malformed"),
        ("top-level-array", "[" + wire + "]", "malformed"),
        (
            "duplicate-member",
            wire.replace('"action":"promote"', '"action":"hold","action":"promote"'),
            "malformed",
        ),
        ("duplicate-escaped-member", wire.replace('"seq":1', '"seq":1,"s\\u0065q":1'), "malformed"),
        ("nan-literal", wire.replace('"seq":1', '"seq":NaN'), "malformed"),
        (
            "infinite-number",
            wire.replace('"issued_at":1800000000.0', '"issued_at":1e400'),
            "malformed",
        ),
        ("integer-2-64", wire.replace('"seq":1', '"seq":18446744073709551616'), "malformed"),
        ("integer-2-53", wire.replace('"seq":1', '"seq":9007199254740992'), "malformed"),
        (
            "evidence-samples-2-64",
            text(
                {
                    **promote,
                    "evidence": [
                        {"rule": "r", "signal": "s", "variant": "canary", "samples": 2**64}
                    ],
                }
            ),
            "malformed",
        ),
        (
            "nested-too-deep",
            wire.replace('"evidence":[]', '"evidence":' + "[" * 8 + "]" * 8),
            "malformed",
        ),
        (
            "unpaired-surrogate",
            wire.replace("stage canary-5 passed", "stage \\ud800 passed"),
            "malformed",
        ),
        ("raw-control-character", wire.replace("stage canary-5", "stage\ncanary-5"), "malformed"),
        ("missing-version", text({k: v for k, v in promote.items() if k != "v"}), "malformed"),
        ("version-2", wire.replace('"v":1', '"v":2'), "unknown_version"),
        ("version-1.0", wire.replace('"v":1', '"v":1.0'), "unknown_version"),
        ("version-string", wire.replace('"v":1', '"v":"1"'), "unknown_version"),
        ("unknown-member", wire.replace('"v":1', '"v":1,"extra":"unsigned"'), "malformed"),
        (
            "unknown-evidence-member",
            text(
                {
                    **promote,
                    "evidence": [{"rule": "r", "signal": "s", "variant": "canary", "extra": 1}],
                }
            ),
            "malformed",
        ),
        ("seq-as-float", wire.replace('"seq":1', '"seq":1.0'), "malformed"),
        ("seq-negative", wire.replace('"seq":1', '"seq":-1'), "malformed"),
        ("action-unknown", wire.replace('"promote"', '"deploy"'), "malformed"),
        (
            "command-id-newline",
            replace(promote, command_id="vec-worker\nINFO fake line"),
            "malformed",
        ),
        ("rollout-trailing-newline", replace(promote, rollout_id="pay-eu\n"), "malformed"),
        ("issuer-capitalised", replace(promote, issuer="Operator:ana"), "malformed"),
        ("issuer-empty-name", replace(promote, issuer="operator:"), "malformed"),
        ("reason-too-long", replace(promote, reason="x" * 4097), "malformed"),
        ("issued-at-before-2000", replace(promote, issued_at=9e8), "malformed"),
        ("expires-before-issued", text(command("inverted", expires_at=NOW - 1)), "malformed"),
        ("advisory-as-number", wire.replace('"advisory":false', '"advisory":0'), "malformed"),
        ("unsigned", text(command("unsigned", None)), "unsigned"),
        ("signature-without-key-id", replace(promote, key_id=""), "unsigned"),
        ("unknown-key", text(command("stranger", STRANGER)), "unknown_key"),
        (
            "stranger-claims-worker-key-id",
            replace(command("claim", STRANGER), key_id=WORKER.key_id),
            "bad_signature",
        ),
        ("tampered-action", replace(promote, action="rollback"), "bad_signature"),
        ("tampered-rollout", replace(promote, rollout_id="pay-us"), "bad_signature"),
        ("tampered-expiry", replace(promote, expires_at=NOW + 3600), "bad_signature"),
        ("tampered-advisory", replace(promote, advisory=True), "bad_signature"),
        ("member-added-after-signing", replace(minimal(), rule="x"), "bad_signature"),
        (
            "member-removed-after-signing",
            text({k: v for k, v in promote.items() if k != "monitor_version"}),
            "bad_signature",
        ),
        ("key-id-swapped", replace(promote, key_id=ANA.key_id), "bad_signature"),
        (
            "signature-uppercase",
            replace(promote, signature=promote["signature"].upper()),
            "bad_signature",
        ),
        (
            "signature-short",
            replace(promote, signature=promote["signature"][:126]),
            "bad_signature",
        ),
        ("worker-resume", text(command("w-resume", action="resume")), "not_authorized"),
        (
            "worker-every-rollout",
            text(command("w-all", rollout_id="*", action="halt")),
            "not_authorized",
        ),
        ("worker-outside-rollouts", text(command("w-out", rollout_id="pay")), "not_authorized"),
        ("worker-as-operator", text(command("w-op", issuer="operator:ana")), "not_authorized"),
        ("operator-as-worker", text(command("op-w", ANA, issuer="worker")), "not_authorized"),
        (
            "operator-as-someone-else",
            text(command("op-bob", ANA, issuer="operator:bob")),
            "not_authorized",
        ),
        ("operator-promote", text(command("op-promote", ANA, action="promote")), "not_authorized"),
        (
            "operator-outside-rollouts",
            text(command("bob-r1", BOB, rollout_id="r1")),
            "not_authorized",
        ),
        (
            "operator-limited-every-rollout",
            text(command("bob-all", BOB, rollout_id="*")),
            "not_authorized",
        ),
        ("expired", text(command("expired", issued_at=NOW - 400, expires_at=NOW - 31)), "expired"),
        (
            "not-yet-valid",
            text(command("early", issued_at=NOW + 31, expires_at=NOW + 331)),
            "not_yet_valid",
        ),
        ("lifetime-too-long", text(command("long", expires_at=NOW + 86_401)), "lifetime_too_long"),
        ("advisory", text(command("advisory", advisory=True)), "advisory"),
    ]
    out = []
    for name, message, reason in cases:
        entry: dict[str, Any] = {"name": name, "reason": reason}
        if isinstance(message, bytes):
            entry["message_b64"] = base64.b64encode(message).decode()
        else:
            entry["message"] = message
        out.append(entry)
    return out


def sequences() -> list[dict[str, Any]]:
    def at(name: str, dt: float, key: SigningKey = WORKER, **fields: Any) -> str:
        return text(command(name, key, issued_at=NOW + dt, expires_at=NOW + dt + 300, **fields))

    def steps(*pairs: tuple[str, str]) -> list[dict[str, str]]:
        return [{"message": m, "outcome": o} for m, o in pairs]

    promote = at("s-promote", 0)
    return [
        {"name": "duplicate-id", "steps": steps((promote, "delivered"), (promote, "duplicate"))},
        {
            "name": "older-command-after-newer-is-replayed",
            "steps": steps(
                (at("s-pause", 10, action="pause"), "delivered"),
                (at("s-old-promote", 5), "replayed"),
                (at("s-ana-old", -100, ANA), "delivered"),  # another role, another clock
            ),
        },
        {
            "name": "worker-silenced-by-operator-halt-until-resume",
            "steps": steps(
                (at("s-halt", 0, ANA, rollout_id="pay-eu"), "delivered"),
                (at("s-w-promote", 1), "halted"),
                (at("s-w-rollback", 2, action="rollback"), "halted"),
                (at("s-w-resume", 3, action="resume"), "not_authorized"),
                (at("s-w-other", 4, rollout_id="pay-us"), "delivered"),
                (at("s-resume", 5, BOB, action="resume"), "delivered"),
                (at("s-w-promote-2", 6), "delivered"),
            ),
        },
        {
            "name": "halt-every-rollout-and-resume-one",
            "steps": steps(
                (at("a-halt-all", 0, ANA, rollout_id="*"), "delivered"),
                (at("a-w-1", 1, rollout_id="r1"), "halted"),
                (at("a-resume-r1", 2, ANA, rollout_id="r1", action="resume"), "delivered"),
                (at("a-w-2", 3, rollout_id="r1"), "delivered"),
                (at("a-w-3", 4, rollout_id="pay-eu"), "halted"),
                (at("a-resume-all", 5, ANA, rollout_id="*", action="resume"), "delivered"),
                (at("a-w-4", 6, rollout_id="pay-eu"), "delivered"),
            ),
        },
        {
            "name": "replayed-old-resume-does-not-reopen",
            "steps": steps(
                (at("h-halt", 10, ANA), "delivered"),
                (at("h-old-resume", 0, ANA, action="resume"), "replayed"),
                (at("h-worker", 11), "halted"),
            ),
        },
    ]


def vectors() -> dict[str, Any]:
    return {
        "spec": "docs/signing.md",
        "about": "Test keys derived from public seeds (topics/testvectors/generate.py): "
        "never trust them.",
        "policy": POLICY,
        "keys": [json.loads(_encode_entry(key)) for key in RING.values()],
        "valid": valid(),
        "invalid": invalid(),
        "sequences": sequences(),
    }


def _encode_entry(key: Any) -> str:
    import msgspec

    return msgspec.json.encode(ring_entry(key)).decode()


def render(make: Callable[[], dict[str, Any]] = vectors) -> bytes:
    return (json.dumps(make(), indent=1, ensure_ascii=False) + "\n").encode()


def main() -> int:
    OUT.write_bytes(render())
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
