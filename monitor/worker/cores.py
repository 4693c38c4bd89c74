"""Which core a worker runs: the product core over the plan files, or a named factory's."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path

from monitor.core.api import CoreProtocol
from monitor.worker.settings import WorkerSettings


def build_core(settings: WorkerSettings) -> CoreProtocol:
    """The product core over the plan files, or the ``core_factory`` named in settings."""
    if settings.core_factory:
        module_name, _, attr = settings.core_factory.partition(":")
        factory: Callable[[WorkerSettings], CoreProtocol] = getattr(
            importlib.import_module(module_name), attr or "build_core"
        )
        return factory(settings)
    return product_core(
        settings.plan_paths,
        default_plan=settings.default_plan,
        monitor_version=settings.monitor_version,
        command_ttl_s=settings.command_ttl_s,
        max_segments=settings.limits.max_segments,
    )


def product_core(
    plan_paths: Sequence[Path | str],
    *,
    default_plan: str | None,
    monitor_version: str,
    command_ttl_s: float,
    max_segments: int,
) -> CoreProtocol:
    """``monitor.core.Core`` over the plan files (the native worker's and the faust adapter's)."""
    # imported here: a test core named by core_factory must not need the product core
    from monitor.core import Core, load_plans

    core: CoreProtocol = Core(
        load_plans(list(plan_paths)),
        default_plan=default_plan,
        monitor_version=monitor_version,
        command_ttl_s=command_ttl_s,
        max_segments=max_segments,
    )
    return core
