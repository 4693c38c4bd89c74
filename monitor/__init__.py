"""rollguard's application: config, rule engine, decision policy, workers, CLI, HTTP."""

from __future__ import annotations

__version__ = "0.1.0"
