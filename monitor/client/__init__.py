"""Python client for orchestrators: obey only verified, fresh, first-seen control commands.

>>> from monitor.client import ClientConfig, ControlClient, trusted_keys
>>> # with ControlClient(ClientConfig(bootstrap, "rollguard.control", "my-deployer",
>>> #                    "/var/lib/deployer/rollguard.sqlite"), trusted_keys(), handle) as c:
>>> #     c.run()

See ``docs/orchestrators.md`` and ``examples/orchestrator.py``.
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
        TrustedKeys,
        check,
    )
    from monitor.client.consumer import (
        ClientConfig,
        ClientMetrics,
        ControlClient,
        Handler,
        Outcome,
    )
    from monitor.client.keyfiles import operator_keyring, trusted_keys, worker_keyring
    from monitor.client.store import HandledStore

_HOME = {
    **dict.fromkeys(
        (
            "REJECT_REASONS",
            "Accepted",
            "Policy",
            "Rejected",
            "RejectReason",
            "TrustedKeys",
            "check",
        ),
        "monitor.client.checks",
    ),
    **dict.fromkeys(
        ("ClientConfig", "ClientMetrics", "ControlClient", "Handler", "Outcome"),
        "monitor.client.consumer",
    ),
    **dict.fromkeys(
        ("operator_keyring", "trusted_keys", "worker_keyring"), "monitor.client.keyfiles"
    ),
    "HandledStore": "monitor.client.store",
}
__all__ = [
    "REJECT_REASONS",
    "Accepted",
    "ClientConfig",
    "ClientMetrics",
    "ControlClient",
    "HandledStore",
    "Handler",
    "Outcome",
    "Policy",
    "RejectReason",
    "Rejected",
    "TrustedKeys",
    "check",
    "operator_keyring",
    "trusted_keys",
    "worker_keyring",
]


# imported on first use (PEP 562): the operator commands import `monitor.client.tail` or
# `.keyfiles` without paying for the consumer's Kafka client
__getattr__ = exports(__name__, _HOME)
