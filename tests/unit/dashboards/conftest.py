"""The stand-in Grafana (``tests/fakes/grafana.py``) for the push and annotator tests."""

from __future__ import annotations

from tests.fakes.grafana import TOKEN, FakeGrafana, grafana

__all__ = ["TOKEN", "FakeGrafana", "grafana"]
