"""Python client for orchestrators: obey only verified, fresh, first-seen control commands.

>>> from monitor.orchestrators import ClientConfig, ControlClient, trusted_keys
>>> # with ControlClient(ClientConfig(bootstrap, "rollguard.control", "my-deployer",
>>> #                    "/var/lib/deployer/rollguard.sqlite"), trusted_keys(), handle) as c:
>>> #     c.run()

``trusted_keys()`` holds public keys only: nothing an orchestrator holds can sign.
See ``docs/orchestrators.md``, ``docs/signing.md`` and ``examples/orchestrator.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor._lazy import exports

if TYPE_CHECKING:
    from monitor.edge.kafka_options import KafkaSecurity
    from monitor.orchestrators.checks import (
        REJECT_REASONS,
        Accepted,
        Policy,
        Rejected,
        RejectReason,
        check,
    )
    from monitor.orchestrators.consumer import (
        ClientConfig,
        ClientMetrics,
        ControlClient,
        Handler,
        Outcome,
        admit,
    )
    from monitor.orchestrators.keyfiles import operator_key, trusted_keys
    from monitor.orchestrators.store import HandledStore
    from topics.keys import KeyRing

_HOME = {
    **dict.fromkeys(
        ("REJECT_REASONS", "Accepted", "Policy", "Rejected", "RejectReason", "check"),
        "monitor.orchestrators.checks",
    ),
    **dict.fromkeys(
        ("ClientConfig", "ClientMetrics", "ControlClient", "Handler", "Outcome", "admit"),
        "monitor.orchestrators.consumer",
    ),
    **dict.fromkeys(("operator_key", "trusted_keys"), "monitor.orchestrators.keyfiles"),
    "HandledStore": "monitor.orchestrators.store",
    "KafkaSecurity": "monitor.edge.kafka_options",
    "KeyRing": "topics.keys",
}
__all__ = [
    "REJECT_REASONS",
    "Accepted",
    "ClientConfig",
    "ClientMetrics",
    "ControlClient",
    "HandledStore",
    "Handler",
    "KafkaSecurity",
    "KeyRing",
    "Outcome",
    "Policy",
    "RejectReason",
    "Rejected",
    "admit",
    "check",
    "operator_key",
    "trusted_keys",
]


# imported on first use (PEP 562): the operator commands import `.keyfiles` or `.reader`
# without paying for the consumer's Kafka client
__getattr__ = exports(__name__, _HOME)
