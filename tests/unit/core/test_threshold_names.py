"""The names a threshold's ``method`` and ``kind`` may take (the Literals of
:mod:`monitor.core.model`, which mypy checks) are exactly the ones the registry of
:mod:`monitor.core.thresholds` serves: a method added to one and not the other fails here."""

from __future__ import annotations

import importlib
from typing import get_args

from monitor.core import thresholds
from monitor.core.model import Method, ThresholdKind


def test_method_literal_names_every_registered_method_and_nothing_else() -> None:
    registered = {name for _, name in thresholds.REGISTRY}
    assert set(get_args(Method)) == registered


def test_kind_literal_names_every_registered_kind_and_nothing_else() -> None:
    assert set(get_args(ThresholdKind)) == set(thresholds.KINDS)


def test_every_module_of_the_registry_serves_a_method_of_its_own() -> None:
    owners: dict[tuple[str, str], str] = {}
    for module in thresholds.MODULES:
        methods = importlib.import_module(f"monitor.core.thresholds.{module}").METHODS
        assert methods, f"thresholds/{module}.py serves no method"
        for m in methods:
            key = (m.kind, m.name)
            assert key not in owners, f"{key} served by {owners.get(key)} and {module}"
            owners[key] = module
    assert owners.keys() == thresholds.REGISTRY.keys()
