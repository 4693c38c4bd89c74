"""A progress bar on the terminal for work that takes more than a moment.

Shown on stderr only when it is a terminal (a pipe or a log gets the commands' summary
lines, not redraws), and only once the work has run ``DELAY_S``: quick runs stay quiet.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

DELAY_S: Final = 2.0

Update = Callable[[float], None]
"""``update(completed)``: how much of ``total`` is done (same unit)."""


@contextmanager
def progress(
    description: str,
    total: float | None,
    *,
    counts: bool = False,
    console: Console | None = None,
) -> Iterator[Update]:
    """``with progress("replay", size) as update: ... update(done)``.

    ``counts``: show "done/total" (runs, files) instead of a percentage (bytes, seconds).
    """
    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield lambda completed: None
        return
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn() if counts else TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    bar = Progress(*columns, console=console, transient=True)
    task = bar.add_task(description, total=total)
    started = time.monotonic()
    shown = False

    def update(completed: float) -> None:
        nonlocal shown
        if not shown and time.monotonic() - started >= DELAY_S:
            bar.start()
            shown = True
        bar.update(task, completed=completed)

    try:
        yield update
    finally:
        if shown:
            bar.stop()
