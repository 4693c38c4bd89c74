"""Evidence pack of one rollout, for audit and post-incident review: ``rollguard export``.

Read straight from Kafka, so it needs no worker: decisions (with their evidence and the
verification status of their signature) from the control topic, sign-offs and lifecycle
events from the telemetry topic, plus the plan/rule files given. Commands addressed to every
rollout (``*``, a kill switch) belong to every pack. Written as:

* ``evidence.jsonl``: a manifest line, then one line per plan file, decision, sign-off and
  lifecycle event (``record`` says which);
* ``decisions.csv``: one row per (decision, evidence item); ``signoffs.csv``;
* ``plans/``: the plan files as given, with their SHA-256 in the manifest.

Every decision, sign-off and lifecycle event carries its ``verification`` against the
trusted key ring (``ok:worker``, ``ok:operator``, or why not; ``unverified`` without a
ring). Signatures are exported (an auditor can re-verify them); keys never are. Text cells
that a spreadsheet would run as a formula (``= + - @``) are prefixed with ``'``. No message
on either topic stops an export: what cannot be read is counted in the manifest.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import msgspec
import orjson

from monitor.orchestrators.checks import Accepted, read_command, verify_command
from monitor.orchestrators.reader import read_topic
from topics.codec import Decoder
from topics.commands import ALL_ROLLOUTS, Command
from topics.config import TopicsConfig
from topics.control_plane import MAX_DEPTH, ControlPlaneGate, is_control_plane
from topics.events import Signoff
from topics.keys import KeyRing
from topics.signing import MalformedError, parse_strict

MAX_PLAN_FILE_BYTES: Final = 4 << 20
DECISION_COLUMNS: Final = (
    "issued_at_utc", "issued_at", "rollout_id", "stage", "action", "advisory", "command_id",
    "seq", "rule_set_version", "monitor_version", "issuer", "key_id", "verification",
    "reason", "rule", "evidence_rule", "signal", "variant", "segment", "observed", "baseline",
    "threshold", "comparator", "window_s", "for_s", "samples", "from_ts", "to_ts", "stats",
    "examples", "partition", "offset",
)  # fmt: skip
SIGNOFF_COLUMNS: Final = (
    "ts_utc", "ts", "rollout_id", "stage", "role", "by", "note", "key_id", "verification",
    "partition", "offset",
)  # fmt: skip


@dataclass
class EvidencePack:
    rollout_id: str
    generated_at: float
    decisions: list[dict[str, Any]] = field(default_factory=list)
    signoffs: list[dict[str, Any]] = field(default_factory=list)
    plan_events: list[dict[str, Any]] = field(default_factory=list)
    plan_files: list[dict[str, Any]] = field(default_factory=list)
    undecodable_control_messages: int = 0
    undecodable_telemetry_messages: int = 0

    def manifest(self) -> dict[str, Any]:
        commands = [d["command"] for d in self.decisions]
        return {
            "record": "manifest",
            "rollout_id": self.rollout_id,
            "generated_at": self.generated_at,
            "generated_at_utc": _utc(self.generated_at),
            "decisions": len(self.decisions),
            "signoffs": len(self.signoffs),
            "plan_events": len(self.plan_events),
            "rule_set_versions": sorted({c["rule_set_version"] for c in commands}),
            "monitor_versions": sorted({c["monitor_version"] for c in commands} - {""}),
            "unverified_decisions": sum(
                1 for d in self.decisions if not d["verification"].startswith("ok")
            ),
            "unverified_signoffs": sum(1 for s in self.signoffs if s["verification"] != "ok"),
            "unverified_plan_events": sum(1 for s in self.plan_events if s["verification"] != "ok"),
            "undecodable_control_messages": self.undecodable_control_messages,
            "undecodable_telemetry_messages": self.undecodable_telemetry_messages,
            "plan_files": [{"name": p["name"], "sha256": p["sha256"]} for p in self.plan_files],
        }


def collect(
    bootstrap: str,
    topics: TopicsConfig,
    rollout_id: str,
    *,
    plan_files: Iterable[Path] = (),
    keys: KeyRing | None = None,
    kafka_options: Mapping[str, Any] | None = None,
) -> EvidencePack:
    """Everything Kafka still holds about ``rollout_id`` (up to the end offsets at start)."""
    pack = EvidencePack(rollout_id, time.time())
    for path in plan_files:
        data = path.read_bytes()[: MAX_PLAN_FILE_BYTES + 1]
        if len(data) > MAX_PLAN_FILE_BYTES:
            raise ValueError(f"{path}: plan file larger than {MAX_PLAN_FILE_BYTES} bytes")
        pack.plan_files.append(
            {"name": path.name, "path": path, "sha256": hashlib.sha256(data).hexdigest()}
        )
    needle = rollout_id.encode()
    for msg in read_topic(bootstrap, topics.control, kafka_options=kafka_options):
        command, verification = _decision(msg.value, keys)
        if command is None:
            pack.undecodable_control_messages += 1
            continue
        if command.rollout_id not in (rollout_id, ALL_ROLLOUTS):
            continue
        pack.decisions.append(
            {
                "record": "decision",
                "partition": msg.partition,
                "offset": msg.offset,
                "verification": verification,
                "command": msgspec.to_builtins(command),
            }
        )
    gate = ControlPlaneGate(keys) if keys is not None else None
    decoder = Decoder()
    for msg in read_topic(bootstrap, topics.telemetry, kafka_options=kafka_options):
        if needle not in msg.value:  # cheap filter: telemetry is mostly order flow
            continue
        try:
            message = parse_strict(msg.value, MAX_DEPTH)
        except MalformedError:
            pack.undecodable_telemetry_messages += 1
            continue
        items = message.get("events") if message.get("kind") == "batch" else [message]
        for item in items if isinstance(items, list) else []:
            if not is_control_plane(item) or item.get("rollout_id") != rollout_id:
                continue
            events = decoder.decode(orjson.dumps(item)).events  # as a worker validates it
            if not events:
                continue
            record = {
                "record": "signoff" if isinstance(events[0], Signoff) else "plan_event",
                "partition": msg.partition,
                "offset": msg.offset,
                "verification": "unverified" if gate is None else gate.verify_event(item),
                "event": msgspec.to_builtins(events[0]),
            }
            (pack.signoffs if isinstance(events[0], Signoff) else pack.plan_events).append(record)
    pack.decisions.sort(key=lambda d: (d["command"]["issued_at"], d["offset"]))
    pack.signoffs.sort(key=lambda s: s["event"]["ts"])
    pack.plan_events.sort(key=lambda s: s["event"]["ts"])
    return pack


def write(pack: EvidencePack, out_dir: Path) -> list[Path]:
    """Write the pack's files into ``out_dir`` (created); return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "evidence.jsonl", out_dir / "decisions.csv", out_dir / "signoffs.csv"]
    with written[0].open("wb") as f:
        f.write(orjson.dumps(pack.manifest()) + b"\n")
        for plan in pack.plan_files:
            text = Path(plan["path"]).read_text(errors="replace")
            line = {"record": "plan_file", "name": plan["name"], "sha256": plan["sha256"]}
            f.write(orjson.dumps(line | {"text": text}) + b"\n")
        for record in (*pack.decisions, *pack.signoffs, *pack.plan_events):
            f.write(orjson.dumps(record) + b"\n")
    with written[1].open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(DECISION_COLUMNS)
        for decision in pack.decisions:
            writer.writerows(_decision_rows(decision))
    with written[2].open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(SIGNOFF_COLUMNS)
        for s in pack.signoffs:
            e = s["event"]
            row = [
                _utc(e["ts"]), e["ts"], e["rollout_id"], e["stage"], e["role"], e["by"],
                e.get("note"), e.get("key_id"), s["verification"],
            ]  # fmt: skip
            writer.writerow([*map(_cell, row), s["partition"], s["offset"]])
    if pack.plan_files:
        (out_dir / "plans").mkdir(exist_ok=True)
        for plan in pack.plan_files:
            target = out_dir / "plans" / plan["name"]
            shutil.copyfile(plan["path"], target)
            written.append(target)
    return written


def _decision_rows(decision: Mapping[str, Any]) -> list[list[Any]]:
    c = decision["command"]
    head = [
        _utc(c["issued_at"]), c["issued_at"], c["rollout_id"], c["stage"], c["action"],
        c["advisory"], c["command_id"], c["seq"], c["rule_set_version"], c["monitor_version"],
        c["issuer"], c["key_id"], decision["verification"], c["reason"], c["rule"],
    ]  # fmt: skip
    tail = [decision["partition"], decision["offset"]]
    rows = []
    for ev in c["evidence"] or [{}]:
        middle = [
            ev.get("rule"), ev.get("signal"), ev.get("variant"), _json(ev.get("segment")),
            ev.get("observed"), ev.get("baseline"), ev.get("threshold"), ev.get("comparator"),
            ev.get("window_s"), ev.get("for_s"), ev.get("samples"), ev.get("from_ts"),
            ev.get("to_ts"), _json(ev.get("stats")), _json(ev.get("examples")),
        ]  # fmt: skip
        rows.append([_cell(v) for v in (*head, *middle)] + tail)
    return rows


def _decision(data: bytes, keys: KeyRing | None) -> tuple[Command | None, str]:
    """The command in ``data`` and its verification (time is not judged: old decisions
    were valid when they were made); (None, reason) when it cannot be read at all."""
    if keys is None:
        read = read_command(data)
        return (read, "unverified") if isinstance(read, Command) else (None, read.reason)
    verified = verify_command(data, keys)
    if isinstance(verified, Accepted):
        return verified.command, f"ok:{verified.trust}"
    return verified.command, verified.reason


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def _json(value: Any) -> str:
    return "" if value in (None, {}, []) else orjson.dumps(value).decode()


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
