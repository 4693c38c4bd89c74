"""The orchestrator client's first import path, kept because README and docs named it.

Its home is :mod:`monitor.orchestrators` (``from monitor.orchestrators import ControlClient``);
``from monitor.client import ControlClient`` still works and gives the same objects.
"""

from __future__ import annotations

from monitor.orchestrators import __all__ as __all__
from monitor.orchestrators import __getattr__ as __getattr__
