"""The Stage: a trading-telemetry simulator with fault injection, and its benchmark.

* :class:`Simulation` (``generate``) streams one or many rollouts over one shared market,
  slice by slice, deterministic from a seed; :class:`RolloutSpec` (``flow``) shapes a
  rollout's traffic; ``raw=True`` builds unvalidated twins for write-only streams.
* :func:`build_scenario` (``scenarios``) gives a named scenario with ground truth;
  :class:`Fault` (``faults``) is one injected fault.
* :func:`demo_streams` (``demo``) builds the demo's three rollouts.
* ``sinks``: :func:`write_jsonl`, :func:`produce` to Kafka with a :class:`Pacer`.
* ``bench``, ``references``, ``scoring``, ``report``: ``rollguard bench detection``.
* ``synthetic``: a small plain order-flow stream (no market model) for examples, tests and
  the replay benchmark.

Import the benchmark modules directly; they pull in the core, scipy and matplotlib.
"""

from __future__ import annotations

from monitor.sim.demo import demo_scenarios, demo_streams
from monitor.sim.faults import Fault
from monitor.sim.flow import RolloutSpec
from monitor.sim.generate import DEFAULT_START_TS, Simulation
from monitor.sim.scenarios import SCENARIO_NAMES, Expectation, Scenario, build_scenario
from monitor.sim.sinks import Pacer, anchored_start, kafka_producer, produce, write_jsonl

__all__ = [
    "DEFAULT_START_TS",
    "SCENARIO_NAMES",
    "Expectation",
    "Fault",
    "Pacer",
    "RolloutSpec",
    "Scenario",
    "Simulation",
    "anchored_start",
    "build_scenario",
    "demo_scenarios",
    "demo_streams",
    "kafka_producer",
    "produce",
    "write_jsonl",
]
