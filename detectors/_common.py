"""Small helpers shared by the detector modules: argument checks and state (de)serialisation."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from detectors.errors import DetectorStateError

BASELINE = "baseline"
CANARY = "canary"


def check_positive(name: str, value: float | None, *, allow_none: bool = False) -> None:
    """Raise ``ValueError`` with the parameter name unless ``value`` is a finite number > 0."""
    if value is None and allow_none:
        return
    if value is None or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def check_unit(name: str, value: float, *, closed: bool = False) -> None:
    """Raise ``ValueError`` unless ``0 < value < 1`` (or ``0 <= value <= 1`` if closed)."""
    ok = 0.0 <= value <= 1.0 if closed else 0.0 < value < 1.0
    if not ok:
        raise ValueError(f"{name} must be in {'[0, 1]' if closed else '(0, 1)'}, got {value!r}")


def check_variant(variant: str) -> bool:
    """Return True for the canary, False for the baseline; reject anything else."""
    if variant == CANARY:
        return True
    if variant == BASELINE:
        return False
    raise ValueError(f"variant must be 'baseline' or 'canary', got {variant!r}")


def decay_factor(dt: float, half_life: float | None) -> float:
    """Weight kept by old data after ``dt`` seconds (1.0 without decay or for dt <= 0)."""
    if half_life is None or dt <= 0.0:
        return 1.0
    return math.exp(-math.log(2.0) * dt / half_life)


def header(obj: object, version: int = 1) -> dict[str, Any]:
    """Common state header: the class name and the state layout version."""
    return {"kind": type(obj).__name__, "version": version}


def check_state(cls: type, state: Mapping[str, Any], version: int = 1) -> None:
    """Refuse state written by another class or another layout version."""
    if state.get("kind") != cls.__name__ or state.get("version") != version:
        raise DetectorStateError(
            f"state for {state.get('kind')!r} v{state.get('version')!r} cannot restore "
            f"{cls.__name__} v{version}"
        )
