"""Is there a Kafka broker at the bootstrap address at all? A quick answer before a client
spends its timeouts (kafka-python waits ~30 s to bootstrap, then raises a traceback).

A TCP connection to any bootstrap address is enough here; what comes after (TLS, SASL, the
Kafka protocol) is the client's to check, with its own bounded timeouts.
"""

from __future__ import annotations

import socket
import time
from typing import Final

from topics.errors import RollguardError

CONNECT_TIMEOUT_S: Final = 5.0


class KafkaUnreachableError(RollguardError):
    """No bootstrap address accepted a connection; the message names each one and why."""


def addresses(bootstrap: str) -> list[tuple[str, int]]:
    """``host:port[,host:port]`` (IPv6 as ``[::1]:9092``) as (host, port) pairs.

    >>> addresses("kafka-1:9092, [::1]:9093")
    [('kafka-1', 9092), ('::1', 9093)]
    """
    out = []
    for raw in bootstrap.split(","):
        item = raw.strip()
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise KafkaUnreachableError(f"bootstrap address {item!r}: expected host:port")
        out.append((host.strip("[]"), int(port)))
    if not out:
        raise KafkaUnreachableError("no bootstrap address given")
    return out


def _why(exc: OSError, timeout_s: float) -> str:
    if isinstance(exc, socket.gaierror):
        return "name not resolved"
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_s:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return exc.strerror or type(exc).__name__


def check_reachable(bootstrap: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Return when some bootstrap address accepts a TCP connection; else raise
    :class:`KafkaUnreachableError` saying what was tried (within about ``timeout_s`` each)."""
    tried = []
    started = time.monotonic()
    for host, port in addresses(bootstrap):
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                return
        except OSError as exc:
            tried.append(f"{host}:{port} ({_why(exc, timeout_s)})")
    raise KafkaUnreachableError(
        f"cannot reach Kafka: tried {', '.join(tried)} in {time.monotonic() - started:.1f} s"
    )
