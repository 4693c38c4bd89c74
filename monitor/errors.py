"""The root of rollguard's exceptions (defined in :mod:`topics.errors`, where the contracts
that raise them live): callers catch one type."""

from __future__ import annotations

from topics.errors import ConfigError, RollguardError

__all__ = ["ConfigError", "RollguardError"]
