"""Where is a worker stuck? ``kill -USR1 <pid>`` logs every asyncio task's stack,
``kill -USR2 <pid>`` writes every thread's stack to stderr.

A worker that stops deciding without failing a check (a rebalance that never ends, a
callback waiting on the broker) is diagnosed from its tasks' stacks; one whose event loop
is blocked cannot run that handler, and Python's ``faulthandler`` (USR2) shows the thread
that blocks it.
"""

from __future__ import annotations

import asyncio
import faulthandler
import io
import logging
import signal

log = logging.getLogger("rollguard.worker")


def dump_tasks() -> str:
    """Every task of the running loop with the stack it waits in."""
    out = io.StringIO()
    for task in sorted(asyncio.all_tasks(), key=lambda t: t.get_name()):
        out.write(f"--- task {task.get_name()} ({'done' if task.done() else 'pending'})\n")
        task.print_stack(file=out)
    return out.getvalue()


def install(loop: asyncio.AbstractEventLoop) -> None:
    """Log :func:`dump_tasks` at WARNING on SIGUSR1, threads' stacks on SIGUSR2 (where the
    platform has them)."""
    if hasattr(signal, "SIGUSR1"):
        loop.add_signal_handler(
            signal.SIGUSR1, lambda: log.warning("asyncio tasks on SIGUSR1:\n%s", dump_tasks())
        )
    if hasattr(signal, "SIGUSR2"):
        faulthandler.register(signal.SIGUSR2, all_threads=True)
