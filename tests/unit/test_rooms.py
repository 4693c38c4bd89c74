"""Every room of ``monitor/`` is under the import contracts (``[tool.importlinter]`` in
pyproject.toml, drawn in docs/architecture.md): a new package cannot escape them unseen."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts: list[dict[str, object]] = config["contracts"]
    return contracts


def test_every_room_of_monitor_has_a_layer() -> None:
    rooms = {
        f"monitor.{p.name}"
        for p in (ROOT / "monitor").iterdir()
        if p.is_dir() and (p / "__init__.py").is_file()
    }
    (layers,) = [c for c in _contracts() if c["type"] == "layers"]
    assert isinstance(layers["layers"], list)
    layered = {room.strip() for layer in layers["layers"] for room in layer.split("|")}
    assert rooms == layered


def test_the_core_is_forbidden_every_other_room() -> None:
    rooms = {
        f"monitor.{p.name}"
        for p in (ROOT / "monitor").iterdir()
        if p.is_dir() and (p / "__init__.py").is_file() and p.name != "core"
    }
    (core,) = [c for c in _contracts() if c.get("source_modules") == ["monitor.core"]]
    assert isinstance(core["forbidden_modules"], list)
    assert rooms <= set(core["forbidden_modules"])


def test_the_clients_first_import_path_gives_the_same_objects() -> None:
    """``monitor.client`` was the documented import path of the orchestrator client."""
    import monitor.client
    import monitor.orchestrators

    for name in monitor.orchestrators.__all__:
        assert getattr(monitor.client, name) is getattr(monitor.orchestrators, name)
    assert monitor.client.__all__ == monitor.orchestrators.__all__
