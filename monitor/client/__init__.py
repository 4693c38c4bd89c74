"""Python client for orchestrators: obey only verified, fresh, first-seen control commands.

>>> from monitor.client import ClientConfig, ControlClient, trusted_keys
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
    from monitor.client.checks import (
        REJECT_REASONS,
        Accepted,
        Policy,
        Rejected,
        RejectReason,
        check,
    )
    from monitor.client.consumer import (
        ClientConfig,
        ClientMetrics,
        ControlClient,
        Handler,
        Outcome,
        admit,
    )
    from monitor.client.keyfiles import operator_key, trusted_keys
    from monitor.client.store import HandledStore
    from topics.keys import KeyRing

_HOME = {
    **dict.fromkeys(
        ("REJECT_REASONS", "Accepted", "Policy", "Rejected", "RejectReason", "check"),
        "monitor.client.checks",
    ),
    **dict.fromkeys(
        ("ClientConfig", "ClientMetrics", "ControlClient", "Handler", "Outcome", "admit"),
        "monitor.client.consumer",
    ),
    **dict.fromkeys(("operator_key", "trusted_keys"), "monitor.client.keyfiles"),
    "HandledStore": "monitor.client.store",
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


# imported on first use (PEP 562): the operator commands import `monitor.client.tail` or
# `.keyfiles` without paying for the consumer's Kafka client
__getattr__ = exports(__name__, _HOME)
