"""The result every canary-vs-baseline comparison returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Direction = Literal["higher", "lower", "none"]


@dataclass(frozen=True)
class Comparison:
    """Outcome of a canary-vs-baseline comparison, ready to be cited as evidence.

    Attributes
    ----------
    direction
        ``"higher"`` / ``"lower"``: the canary is significantly above / below the baseline;
        ``"none"``: no significant difference (or not enough data).
    effect
        Point estimate, canary relative to baseline, of kind ``effect_kind``.
    interval
        Confidence interval (or confidence sequence) for ``effect``.
    p_value
        p-value (anytime-valid for the sequential tests: ``1 / max e-value``).
    e_value
        e-value of the sequential tests (None for fixed-sample tests).
    enough_data
        False while either side has fewer samples than the test's minimum.
    n_baseline, n_canary
        Samples (or events) seen per side.
    method
        Name of the test.
    effect_kind
        ``"rate_ratio"``, ``"difference"``, ``"ratio"``, ``"shift"`` (Hodges–Lehmann) ...

    Examples
    --------
    >>> from detectors import Comparison
    >>> c = Comparison("higher", 2.0, (1.2, 3.1), 0.01, 100.0, True, 40, 80, "demo", "rate_ratio")
    >>> c.significant, c.to_dict()["interval"]
    (True, [1.2, 3.1])
    """

    direction: Direction
    effect: float | None
    interval: tuple[float, float] | None
    p_value: float | None
    e_value: float | None
    enough_data: bool
    n_baseline: int
    n_canary: int
    method: str
    effect_kind: str

    @property
    def significant(self) -> bool:
        """True when a direction was decided."""
        return self.direction != "none"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for decision evidence."""
        out = asdict(self)
        out["interval"] = None if self.interval is None else list(self.interval)
        return out
