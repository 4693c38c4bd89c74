"""``rollguard tail``: each control command with what a verifying client would do: a line
with time, action, rollout, issuer and verification, then the reason's headline and, dimmed,
its statistics (the reason as the core wrote it, :func:`monitor.core.explain.lines`).

Text from the topic is untrusted: control characters are removed and rich markup escaped
before anything reaches the terminal (no ANSI injection through a ``reason``). No message
stops it: what cannot be read is shown with its reason.

Keys: a trusted ring that is named (``--trusted-keys`` or ``ROLLGUARD_TRUSTED_KEYS_FILE``)
but cannot be used is an error, never a silent fallback to unverified output; only when no
ring is named at all are commands shown as ``unverified`` (with a warning on stderr).
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from rich.console import Console
from rich.markup import escape

from monitor.core.explain import lines
from monitor.orchestrators.checks import Accepted, Policy, Rejected, check, read_command
from monitor.orchestrators.reader import read_topic
from topics.commands import ALL_ROLLOUTS, Command
from topics.keys import KeyRing

CONTROL_CHARS: Final = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
"""C0/C1 controls, line and paragraph separators, bidirectional overrides (which can make a
line read backwards), unpaired surrogates: never printed as they are."""
ACTION_STYLE: Final = {
    "halt": "bold white on red",
    "rollback": "bold red",
    "freeze": "bold magenta",
    "pause": "yellow",
    "reduce_scope": "yellow",
    "hold": "cyan",
    "promote": "bold green",
    "proceed": "green",
    "resume": "bold blue",
}
# Advisory commands are shown (tagged), not hidden: tail reports, it does not obey.
DISPLAY_POLICY: Final = Policy(deliver_advisory=True)


def status_of(value: bytes, keys: KeyRing | None, now: float) -> tuple[str, Command | None]:
    """("ok:worker" / "ok:operator" / a rejection reason / "unverified", the command)."""
    if keys is None:
        read = read_command(value)
        return ("unverified", read) if isinstance(read, Command) else (read.reason, read.command)
    result: Accepted | Rejected = check(value, keys, DISPLAY_POLICY, now)
    if isinstance(result, Accepted):
        return f"ok:{result.trust}", result.command
    return result.reason, result.command


def render_tail(
    bootstrap: str,
    topic: str,
    *,
    rollout: str | None,
    from_beginning: bool,
    follow: bool,
    keys: KeyRing | None,
    as_json: bool,
    kafka_options: Mapping[str, Any],
) -> None:
    """``keys``: the trusted ring (None: show commands unverified, said on stderr)."""
    console = Console(highlight=False, soft_wrap=True)
    if keys is None:
        Console(stderr=True).print(
            "[yellow]warning: no trusted keys (--trusted-keys / ROLLGUARD_TRUSTED_KEYS_FILE): "
            "signatures are NOT verified[/]"
        )
    messages = read_topic(
        bootstrap, topic, from_beginning=from_beginning, follow=follow, kafka_options=kafka_options
    )
    try:
        for msg in messages:
            status, command = status_of(msg.value, keys, time.time())
            if rollout and command and command.rollout_id not in (rollout, ALL_ROLLOUTS):
                continue
            if as_json:
                line = {"partition": msg.partition, "offset": msg.offset, "status": status}
                if command is not None:
                    line["command"] = {k: v for k, v in _fields(command).items() if k != "evidence"}
                sys.stdout.write(orjson.dumps(line).decode() + "\n")
                sys.stdout.flush()
            else:
                console.print(_line(status, command, msg.partition, msg.offset))
    except KeyboardInterrupt:
        return


def _line(status: str, command: Command | None, partition: int, offset: int) -> str:
    mark = "[green]✓ " if status.startswith("ok") else "[red]✗ "
    verdict = f"{mark}{escape(status)}[/]"
    if command is None:
        return f"{'-':23} {verdict}  (partition {partition} offset {offset})"
    when = datetime.fromtimestamp(command.issued_at, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    style = ACTION_STYLE.get(command.action, "")
    advisory = " [dim](advisory)[/]" if command.advisory else ""
    headline, statistics = lines(command.reason)
    return (
        f"{when} [{style}]{command.action.upper():12}[/]{advisory} "
        f"{_safe(command.rollout_id)} stage={_safe(command.stage)} "
        f"by={_safe(command.issuer)} {verdict}"
        f"{'  rule=' + _safe(command.rule) if command.rule else ''}\n"
        f"    {_safe(headline, 400)}"
        + (f"\n    [dim]{_safe(statistics, 400)}[/]" if statistics else "")
    )


def _safe(text: str, limit: int = 128) -> str:
    clean = CONTROL_CHARS.sub("?", text)
    return escape(clean if len(clean) <= limit else clean[:limit] + "…")


def _fields(command: Command) -> dict[str, Any]:
    import msgspec

    body: dict[str, Any] = msgspec.to_builtins(command)
    return body
