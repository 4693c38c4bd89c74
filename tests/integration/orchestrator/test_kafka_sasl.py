"""``monitor.edge.kafka_options`` against a real SASL_PLAINTEXT/PLAIN listener of Apache Kafka.

Opt-in (``ROLLGUARD_TEST_SASL=1``): it starts a broker of its own twice (format, then restart
with the SASL listener), about 30 s, too slow for every run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor import devbroker
from monitor.edge.kafka_options import KafkaSecurity

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("ROLLGUARD_TEST_SASL") != "1", reason="set ROLLGUARD_TEST_SASL=1"
    ),
]

USER, PASSWORD = "orchestrator", "orch-password-0123"


@pytest.fixture(scope="module")
def sasl_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("sasl-kafka")
    broker = devbroker.start(workdir=workdir)  # formats the storage, PLAINTEXT only
    broker.stop(remove_data=False)
    sasl_port = devbroker.free_port()
    props = workdir / "server.properties"
    text = props.read_text()
    plain = f"PLAINTEXT://127.0.0.1:{broker.port}"
    text = text.replace(
        f"listeners={plain},", f"listeners={plain},SASL_PLAINTEXT://127.0.0.1:{sasl_port},"
    )
    text = text.replace(
        f"advertised.listeners={plain}",
        f"advertised.listeners={plain},SASL_PLAINTEXT://127.0.0.1:{sasl_port}",
    )
    text = text.replace(
        "listener.security.protocol.map=",
        "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,",
    )
    text += (
        "\nsasl.enabled.mechanisms=PLAIN\n"
        "listener.name.sasl_plaintext.plain.sasl.jaas.config="
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'user_{USER}="{PASSWORD}";\n'
    )
    props.write_text(text)
    broker = devbroker.restart(broker)
    try:
        yield f"127.0.0.1:{sasl_port}"
    finally:
        broker.stop()
        shutil.rmtree(Path(workdir), ignore_errors=True)


def _security(password: str) -> KafkaSecurity:
    return KafkaSecurity.from_env(
        {
            "ROLLGUARD_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "ROLLGUARD_KAFKA_SASL_MECHANISM": "PLAIN",
            "ROLLGUARD_KAFKA_SASL_USERNAME": USER,
            "ROLLGUARD_KAFKA_SASL_PASSWORD": password,
        }
    )


@pytest.mark.parametrize(("password", "accepted"), [(PASSWORD, True), ("wrong-password-0", False)])
def test_kafka_python_and_aiokafka_authenticate(
    sasl_bootstrap: str, password: str, accepted: bool
) -> None:
    from aiokafka import AIOKafkaConsumer
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    security = _security(password)
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=sasl_bootstrap, request_timeout_ms=5000, **security.kafka_python()
        )
        consumer.topics()
        consumer.close()
        sync_ok = True
    except KafkaError:
        sync_ok = False

    async def aio() -> bool:
        aio_consumer = AIOKafkaConsumer(
            bootstrap_servers=sasl_bootstrap, request_timeout_ms=5000, **security.aiokafka()
        )
        try:
            await aio_consumer.start()
            await aio_consumer.topics()
            return True
        except Exception:  # aiokafka raises its own connection error types
            return False
        finally:
            await aio_consumer.stop()

    assert (sync_ok, asyncio.run(aio())) == (accepted, accepted)
