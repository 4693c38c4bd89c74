"""SIGTERM and SIGHUP stop the demo as Ctrl-C does, and stop everything it started."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

from topics.errors import RollguardError


class DemoInterruptedError(RollguardError):
    """The demo was told to stop (SIGTERM, SIGHUP); everything it started is stopped."""


class _Signalled(BaseException):
    """Raised by the signal handler. A BaseException, as KeyboardInterrupt is, because the
    handler runs wherever the main thread happens to be, and an ``except Exception`` retry
    loop would otherwise swallow it (seen in CI)."""


def _in_kafka_client(frame: FrameType | None) -> bool:
    """Whether the main thread was running kafka-python code when the signal came. Its
    3.x network loop catches BaseException: an exception raised in there was swallowed and
    left ``KafkaProducer()`` polling forever (seen: the SIGTERM test hung 120 s)."""
    while frame is not None:
        if str(frame.f_globals.get("__name__", "")).startswith("kafka."):
            return True
        frame = frame.f_back
    return False


class StopSignals:
    """SIGTERM and SIGHUP (a closed terminal) stop the demo as Ctrl-C does: the ExitStack
    stops the broker and workers instead of the process dying with them running. The
    signal is also remembered, and the demo's loops check it, so even a handler that fired
    inside a finalizer (where Python prints and drops exceptions) still stops the demo."""

    def __init__(self) -> None:
        self.received: str | None = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:  # a second signal must not interrupt the cleanup
            return
        self.received = signal.Signals(signum).name
        if not _in_kafka_client(frame):  # else the next check() raises, once the call returns
            raise _Signalled(self.received)

    def check(self) -> None:
        if self.received is not None:
            raise DemoInterruptedError(f"stopped by {self.received}")

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopSignals]:
        previous = {
            sig: signal.signal(sig, self._handle) for sig in (signal.SIGTERM, signal.SIGHUP)
        }
        try:
            yield self
        except _Signalled as exc:
            raise DemoInterruptedError(f"stopped by {exc}") from None
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
