"""The CLI's persistent handle on its broker: ``rollguard dev broker start|stop|status``."""

from __future__ import annotations

from pathlib import Path

from monitor.devbroker.jars import cache_dir
from monitor.devbroker.process import Broker


def state_file() -> Path:
    return cache_dir() / "dev-broker.json"


def load_running() -> Broker | None:
    path = state_file()
    if not path.exists():
        return None
    try:
        broker = Broker.from_json(path.read_bytes())
    except (ValueError, KeyError):
        path.unlink(missing_ok=True)
        return None
    if not broker.alive():
        path.unlink(missing_ok=True)
        return None
    return broker


def save_running(broker: Broker) -> None:
    state_file().parent.mkdir(parents=True, exist_ok=True)
    state_file().write_bytes(broker.to_json())


def forget_running() -> None:
    state_file().unlink(missing_ok=True)
