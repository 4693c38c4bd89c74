"""The progress bar: drawn on a terminal once work has run a moment, silent in a pipe."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from monitor.cli import progress as progress_module
from monitor.cli.progress import progress


def test_a_terminal_sees_the_bar_after_the_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "DELAY_S", 0.0)
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with progress("replay big.jsonl", 1000, console=console) as update:
        update(500)
        update(1000)
    assert "replay big.jsonl" in out.getvalue()


def test_a_pipe_and_quick_work_stay_quiet() -> None:
    piped = io.StringIO()
    with progress("replay", 10, console=Console(file=piped, force_terminal=False)) as update:
        update(10)
    assert piped.getvalue() == ""
    quick = io.StringIO()
    terminal = Console(file=quick, force_terminal=True)
    with progress("replay", 10, console=terminal) as update:  # done before DELAY_S
        update(10)
    assert quick.getvalue() == ""
