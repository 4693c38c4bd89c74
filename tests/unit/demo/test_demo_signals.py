"""SIGTERM/SIGHUP stop the demo even when they land inside a library's broad ``except``."""

from __future__ import annotations

import os
import signal
import time

import pytest

from monitor.demo.signals import DemoInterruptedError, StopSignals


def _swallowing_retry_loop() -> None:
    """What a Kafka client's connect loop looks like: every Exception means "try again"."""
    for _ in range(3):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.5)
        except Exception:  # the point of the test
            continue


def test_a_signal_inside_an_except_exception_loop_still_stops_the_demo() -> None:
    with (
        pytest.raises(DemoInterruptedError, match="stopped by SIGTERM"),
        StopSignals().installed(),
    ):
        _swallowing_retry_loop()
        pytest.fail("the signal was swallowed")


def test_a_signal_remembered_is_checked_by_the_loops() -> None:
    stops = StopSignals()
    stops.check()  # nothing received: carries on
    with pytest.raises(DemoInterruptedError, match="SIGHUP"), stops.installed():
        try:
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.5)
        except BaseException:  # e.g. a finalizer that drops everything
            pass
        stops.check()


def test_a_second_signal_does_not_interrupt_the_cleanup() -> None:
    cleaned = []
    with pytest.raises(DemoInterruptedError), StopSignals().installed():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.5)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # impatient user
            time.sleep(0.1)
            cleaned.append(True)
    assert cleaned == [True]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
