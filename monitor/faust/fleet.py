"""The fleet's status topic inside a faust app: read it whole, as every native worker does.

Each rollguard worker, native or faust, publishes the status of the rollouts it holds to the
compacted status topic (``monitor.status.publisher``; here :meth:`Applier.publish_status`)
and materialises the whole topic (``monitor.status.reader``) to answer ``/rollouts``,
``/rollouts/{id}``, ``/verdict/{id}`` and the Flagger hooks for every rollout. The reader
assigns every partition with no consumer group, so it is a plain aiokafka consumer (faust's
own driver) beside the app's, made with the app's brokers and credentials; a faust agent
would read only its share of a consumer group's partitions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import faust
from aiokafka.admin import AIOKafkaAdminClient
from faust.transport.drivers.aiokafka import Transport, credentials_to_aiokafka_auth, server_list

from monitor.status.reader import StatusFollower, status_consumer

log = logging.getLogger(__name__)

WAIT_LOG_EVERY_S = 30.0


async def follow_status(
    app: faust.App, follower: StatusFollower, stopping: Callable[[], bool]
) -> None:
    """Read the status topic into ``follower.table`` until the app stops (an app task).

    Until it has caught up with the topic's end, the routes answer "loading" (503), never
    "unknown"; a topic that does not exist yet is waited for (``rollguard topics create``
    makes it), never auto-created."""
    conf = app.conf
    common: dict[str, Any] = {
        "bootstrap_servers": server_list(conf.broker, Transport.default_port),
        **credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context),
    }
    partitions = await _partitions(common, f"{conf.id}-rollguard-status", follower.topic, stopping)
    if not partitions:
        return
    consumer = status_consumer(common, f"{conf.id}-rollguard-status")
    await consumer.start()
    try:
        follower.consumer = consumer
        await follower.start(partitions)
        await follower.run(stopping)
    finally:
        await consumer.stop()


async def _partitions(
    common: dict[str, Any], client_id: str, topic: str, stopping: Callable[[], bool]
) -> set[int]:
    """The topic's partitions, once it exists (the metadata of every topic: a request
    naming the topic could make the broker create it)."""
    admin = AIOKafkaAdminClient(**common, client_id=client_id)
    await admin.start()
    try:
        waited = 0.0
        while not stopping():
            for described in await admin.describe_topics():
                if described["topic"] == topic and described["partitions"]:
                    return {int(p["partition"]) for p in described["partitions"]}
            if waited % WAIT_LOG_EVERY_S == 0:
                log.warning(
                    "rollguard: waiting for the status topic %r (rollguard topics create)", topic
                )
            await asyncio.sleep(1.0)
            waited += 1.0
        return set()
    finally:
        await admin.close()
