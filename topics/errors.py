"""The root of rollguard's exceptions: callers catch one type.

It lives with the contracts because they raise it too (key files, key rings), and the
contracts import nothing from the application; the application imports it from here.
"""

from __future__ import annotations


class RollguardError(Exception):
    """Base of every error rollguard raises on purpose."""


class ConfigError(RollguardError):
    """A plan, rule or settings file is wrong; the message names file, line, rule and field."""
