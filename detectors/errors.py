"""Exceptions of the detectors package."""

from __future__ import annotations


class DetectorError(Exception):
    """Root of every error raised on purpose by :mod:`detectors`."""


class DetectorStateError(DetectorError, ValueError):
    """A ``from_state`` call got state of another class or another layout version."""
