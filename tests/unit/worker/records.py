"""What the worker's loops read from aiokafka, as the unit tests hand it to them."""

from __future__ import annotations

from typing import NamedTuple


class Record(NamedTuple):
    """The fields of an aiokafka ``ConsumerRecord`` the worker uses."""

    offset: int
    value: bytes
    key: bytes | None = None
    timestamp: int = 0
