"""``rollguard demo``: Kafka, workers and three simulated rollouts, end to end."""

from __future__ import annotations

from monitor.demo.run import DemoResult, default_out_dir, run_demo
from monitor.demo.story import DemoOptions

__all__ = ["DemoOptions", "DemoResult", "default_out_dir", "run_demo"]
