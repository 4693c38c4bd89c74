"""What the demo shows in the terminal: one row per rollout, decisions as they arrive."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from monitor.core.explain import lines
from monitor.demo.control import Seen

ACTION_STYLE = {
    "promote": "green",
    "proceed": "green",
    "hold": "yellow",
    "reduce_scope": "yellow",
    "pause": "dark_orange",
    "freeze": "dark_orange",
    "rollback": "bold red",
    "halt": "bold red",
}


@dataclass
class Board:
    """The live state the demo renders (updated from the main loop)."""

    rollouts: list[str]
    expectations: dict[str, str]
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    last: dict[str, Seen] = field(default_factory=dict)
    events_sent: int = 0
    event_time_done: float = 0.0
    event_time_total: float = 1.0
    started: float = field(default_factory=time.monotonic)
    phase: str = "starting"
    start_ts: float = 0.0

    def render(self) -> Group:
        table = Table(expand=True, title="rollouts", title_justify="left")
        table.add_column("rollout", no_wrap=True)
        table.add_column("expect", style="dim")
        table.add_column("stage", no_wrap=True)
        table.add_column("traffic", justify="right")
        table.add_column("firing rules")
        table.add_column("last decision (verified)", ratio=2)
        for rollout_id in self.rollouts:
            view = self.views.get(rollout_id, {})
            firing = ", ".join(view.get("firing", []) or []) or "-"
            pct = view.get("traffic_pct")
            seen = self.last.get(rollout_id)
            table.add_row(
                rollout_id,
                self.expectations.get(rollout_id, ""),
                f"{view.get('stage', '?')} ({view.get('status', '')})",
                f"{pct:g} %" if isinstance(pct, int | float) else "-",
                Text(firing, style="red" if firing != "-" else "dim"),
                decision_text(seen) if seen else Text("none yet", style="dim"),
            )
        done = min(self.event_time_done, self.event_time_total)
        head = Table.grid(expand=True)
        head.add_column()
        head.add_column(justify="right")
        head.add_row(
            f"[bold]{self.phase}[/bold]  {self.events_sent:,} events sent, "
            f"{done / 60:.1f} of {self.event_time_total / 60:.0f} min of trading",
            f"{time.monotonic() - self.started:.0f} s",
        )
        bar = ProgressBar(total=self.event_time_total, completed=done)
        return Group(Panel(Group(head, bar), title="rollguard demo"), table)


def decision_text(seen: Seen) -> Text:
    command = seen.command
    style = ACTION_STYLE.get(command.action, "")
    text = Text()
    text.append(command.action.upper(), style=style)
    if command.advisory:
        text.append(" (advisory)", style="dim")
    text.append(f" [{seen.status}] ", style="green" if seen.status.startswith("ok") else "red")
    text.append(lines(command.reason)[0])  # the headline; the statistics are in the report
    return text
