"""Generate the published JSON Schema files from the models: ``python -m topics.schema_gen``.

Orchestrators and producers in other languages validate against ``topics/schemas/*.json``;
a test fails when these files drift from the models.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any, Final

import msgspec
import orjson

from topics.commands import Command
from topics.deadletters import DeadLetter
from topics.events import Batch, Event
from topics.keyfiles import RingFile

SCHEMA_DIR: Final = Path(__file__).parent / "schemas"
DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"


def _schema(model: Any, title: str, description: str) -> dict[str, Any]:
    schema: dict[str, Any] = _clean_docs(msgspec.json.schema(model))
    return {"$schema": DIALECT, "title": title, "description": description, **schema}


def _clean_docs(node: Any) -> Any:
    """Descriptions (docstrings) without their source indentation: msgspec 0.23 strips it
    itself, older versions do not, and the published files must not depend on which."""
    if isinstance(node, dict):
        return {
            key: inspect.cleandoc(value)
            if key == "description" and isinstance(value, str)
            else _clean_docs(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_clean_docs(item) for item in node]
    return node


def schemas() -> dict[str, dict[str, Any]]:
    return {
        "event.schema.json": _schema(
            Event,
            "rollguard input event",
            "One telemetry event (a Kafka message value). Units: ts epoch seconds (UTC); "
            "*_ms milliseconds; pnl_minor integer minor units of currency; prices floats.",
        ),
        "batch.schema.json": _schema(
            Batch, "rollguard batch envelope", "Many input events in one Kafka message."
        ),
        "command.schema.json": _schema(
            Command,
            "rollguard control command",
            "A signed decision on the control topic. signature = Ed25519 (128 lowercase hex) "
            "over the RFC 8785 canonical form of the command as received, without "
            "`signature`, by the key `key_id` names; see docs/signing.md.",
        ),
        "trusted_keys.schema.json": _schema(
            RingFile,
            "rollguard trusted key ring",
            "Public Ed25519 keys with ids and roles: what a verifier holds "
            "(docs/signing.md, 'Key rings').",
        ),
        "dead_letter.schema.json": _schema(
            DeadLetter,
            "rollguard dead letter",
            "Input rollguard could not use: original bytes (base64), reason, source.",
        ),
    }


def render(name: str, schema: dict[str, Any]) -> bytes:
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def main() -> int:
    SCHEMA_DIR.mkdir(exist_ok=True)
    for name, schema in schemas().items():
        (SCHEMA_DIR / name).write_bytes(render(name, schema))
        print(f"wrote {SCHEMA_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
