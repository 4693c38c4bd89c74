"""One name per option across commands; old names stay as hidden aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer.main

from monitor.cli import app


def commands() -> Iterator[tuple[str, Any]]:
    root: Any = typer.main.get_command(app)
    stack = [(name, root.get_command(None, name)) for name in root.list_commands(None)]
    while stack:
        path, command = stack.pop()
        if hasattr(command, "commands"):
            stack += [(f"{path} {n}", command.get_command(None, n)) for n in command.commands]
        else:
            yield path, command


def visible(command: Any) -> list[list[str]]:
    return [
        p.opts + p.secondary_opts
        for p in command.params
        if p.param_type_name == "option" and not getattr(p, "hidden", False)
    ]


def test_the_same_thing_has_the_same_name_everywhere() -> None:
    seen = dict(commands())
    assert {"worker", "kill", "tail", "replay", "dashboards preview", "topics create"} <= set(seen)
    for path, command in seen.items():
        for names in visible(command):
            assert not any("completion" in n for n in names), path
            if "--out" in names:
                assert "-o" in names, path
            if "--plan" in names:
                assert "-p" in names, path  # files of plans and rules (a plan's name: --plan-name)
            if "--bootstrap" in names:
                assert "-b" in names, path
            for name in names:
                # Kafka connection settings are --kafka-*, like their ROLLGUARD_KAFKA_* variables
                if any(k in name for k in ("security-protocol", "sasl-", "ssl-")):
                    assert name.startswith("--kafka-"), (path, name)
            assert names != ["--json"] or path == "tail", path  # --json is an output format


def test_old_names_still_parse() -> None:
    worker: Any = dict(commands())["worker"]
    hidden = {n for p in worker.params if getattr(p, "hidden", False) for n in p.opts}
    assert {"--security-protocol", "--sasl-username", "--ssl-cafile"} <= hidden
    ctx = worker.make_context("worker", ["--security-protocol", "SSL", "--sasl-mechanism", "PLAIN"])
    assert ctx.params["old_security_protocol"] == "SSL"
