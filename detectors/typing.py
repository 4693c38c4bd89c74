"""Protocols every detector follows, in one place.

The shapes follow river (``learn_one`` / ``score_one`` for scorers, ``update`` / ``get`` for
statistics) plus two things the stream workers need: an explicit warm-up flag (``ready``: no
verdict before enough data) and JSON-able state (``state_dict()`` / ``from_state()``) so a worker
can checkpoint to a compacted topic and restore after a rebalance.

Event time is always an argument (``ts``, seconds); nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, Self, runtime_checkable

#: JSON-able state: only dict / list / str / int / float / bool / None inside.
State = dict[str, Any]


@runtime_checkable
class Stateful(Protocol):
    """Anything whose state can be checkpointed as plain JSON-able builtins."""

    def state_dict(self) -> State:
        """Return the full state; ``from_state(state_dict())`` must behave identically."""
        ...

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild an instance from :meth:`state_dict` output."""
        ...


@runtime_checkable
class Scorer(Stateful, Protocol):
    """Anomaly scorer of one numeric series against its own baseline (river's ``AnomalyDetector``).

    ``score_one`` returns a score in [0, 1] and does not change state; ``learn_one`` updates it.
    Before ``ready`` the score is 0.0 (no verdict before enough data).
    """

    @property
    def ready(self) -> bool: ...

    def score_one(self, value: float, ts: float) -> float: ...

    def learn_one(self, value: float, ts: float) -> None: ...


@runtime_checkable
class Statistic(Stateful, Protocol):
    """Online statistic of one series (river's ``Univariate``): ``update`` then ``get``.

    ``get`` returns ``None`` until ``ready``.
    """

    @property
    def ready(self) -> bool: ...

    def update(self, value: float, ts: float) -> None: ...

    def get(self) -> float | None: ...
