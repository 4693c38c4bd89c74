"""A real single-node Apache Kafka broker (KRaft) for development, tests, CI and the demo.

No Docker here: the broker's jars come from Maven Central (``org.apache.kafka:kafka_2.13``)
through Maven, once (:mod:`.jars`); :mod:`.process` starts and stops brokers;
:mod:`.running` keeps the one ``rollguard dev broker start`` left running.
"""

from __future__ import annotations

from monitor.devbroker.jars import (
    KAFKA_VERSION,
    LOG4J_VERSION,
    BrokerError,
    cache_dir,
    ensure_jars,
    jars_ready,
)
from monitor.devbroker.process import (
    READY_TIMEOUT_S,
    Broker,
    free_port,
    log_tail,
    restart,
    start,
    wait_ready,
)
from monitor.devbroker.running import forget_running, load_running, save_running, state_file

__all__ = [
    "KAFKA_VERSION",
    "LOG4J_VERSION",
    "READY_TIMEOUT_S",
    "Broker",
    "BrokerError",
    "cache_dir",
    "ensure_jars",
    "forget_running",
    "free_port",
    "jars_ready",
    "load_running",
    "log_tail",
    "restart",
    "save_running",
    "start",
    "state_file",
    "wait_ready",
]
