"""Kafka connection security (SASL, TLS) from the environment, for every Kafka client we use.

One place checks rollguard's settings and maps them to the keyword arguments of
kafka-python (``KafkaConsumer``/``KafkaProducer``/``KafkaAdminClient``) and of aiokafka: the
worker (``rollguard worker``, which also reads them from its settings file), the orchestrator
client and every command use it: ``KafkaSecurity.from_env().kafka_python()``.

Environment (all optional; the default is PLAINTEXT):

* ``ROLLGUARD_KAFKA_SECURITY_PROTOCOL``: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL;
* ``ROLLGUARD_KAFKA_SASL_MECHANISM``: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512;
* ``ROLLGUARD_KAFKA_SASL_USERNAME``, ``ROLLGUARD_KAFKA_SASL_PASSWORD`` (or
  ``ROLLGUARD_KAFKA_SASL_PASSWORD_FILE``);
* ``ROLLGUARD_KAFKA_SSL_CAFILE``: CA bundle (PEM) that verifies the brokers;
* ``ROLLGUARD_KAFKA_SSL_CERTFILE``, ``ROLLGUARD_KAFKA_SSL_KEYFILE``: client certificate and key
  (PEM) for mutual TLS; ``ROLLGUARD_KAFKA_SSL_KEY_PASSWORD`` (or ``..._FILE``) if encrypted;
* ``ROLLGUARD_KAFKA_SSL_CHECK_HOSTNAME``: 1 (default) or 0.

Passwords are read from the environment or a file, never from a command-line flag (visible
in ``ps``), and never appear in ``repr`` or logs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final

from topics.errors import ConfigError

PROTOCOLS: Final = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS: Final = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
ENV_PREFIX: Final = "ROLLGUARD_KAFKA_"


@dataclass(frozen=True)
class KafkaSecurity:
    """How to authenticate to and encrypt traffic with the brokers."""

    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_key_password: str | None = field(default=None, repr=False)
    ssl_check_hostname: bool = True

    def __post_init__(self) -> None:
        if self.security_protocol not in PROTOCOLS:
            raise ConfigError(
                f"kafka security protocol {self.security_protocol!r}: expected one of {PROTOCOLS}"
            )
        sasl = self.security_protocol.startswith("SASL_")
        if sasl:
            if self.sasl_mechanism not in MECHANISMS:
                raise ConfigError(
                    f"kafka SASL mechanism {self.sasl_mechanism!r}: expected one of {MECHANISMS}"
                )
            if not self.sasl_username or not self.sasl_password:
                raise ConfigError(
                    f"{self.security_protocol} needs {ENV_PREFIX}SASL_USERNAME and "
                    f"{ENV_PREFIX}SASL_PASSWORD (or _PASSWORD_FILE)"
                )
        elif self.sasl_mechanism:
            raise ConfigError(
                f"a SASL mechanism needs security protocol SASL_PLAINTEXT or SASL_SSL, "
                f"not {self.security_protocol}"
            )
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path = getattr(self, name)
            if path and not Path(path).is_file():
                raise ConfigError(f"kafka {name} {path!r}: no such file")
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ConfigError("kafka mutual TLS needs both a certificate file and a key file")

    @property
    def uses_ssl(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        defaults: Mapping[str, Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> KafkaSecurity:
        """The settings from ``env`` (default: the process environment), over ``defaults``
        (e.g. a settings file) and under ``overrides`` (command-line values); ``None`` means
        "not given". Checked once, with everything merged."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(ENV_PREFIX + name, "").strip()
            return value or None

        def secret(name: str) -> str | None:
            path = get(f"{name}_FILE")
            if path:
                try:
                    return Path(path).read_text().strip() or None
                except OSError as exc:
                    raise ConfigError(f"{ENV_PREFIX}{name}_FILE: cannot read: {exc}") from exc
            return env.get(ENV_PREFIX + name) or None

        hostname = get("SSL_CHECK_HOSTNAME")
        from_env = {
            "security_protocol": get("SECURITY_PROTOCOL"),
            "sasl_mechanism": get("SASL_MECHANISM"),
            "sasl_username": get("SASL_USERNAME"),
            "sasl_password": secret("SASL_PASSWORD"),
            "ssl_cafile": get("SSL_CAFILE"),
            "ssl_certfile": get("SSL_CERTFILE"),
            "ssl_keyfile": get("SSL_KEYFILE"),
            "ssl_key_password": secret("SSL_KEY_PASSWORD"),
            "ssl_check_hostname": None
            if hostname is None
            else hostname.lower() not in {"0", "false", "no"},
        }
        values: dict[str, Any] = {}
        for layer in (defaults or {}, from_env, overrides or {}):
            unknown = set(layer) - _FIELDS
            if unknown:
                raise ConfigError(f"unknown kafka security settings: {sorted(unknown)}")
            values |= {name: value for name, value in layer.items() if value is not None}
        for name in ("security_protocol", "sasl_mechanism"):
            if isinstance(values.get(name), str):
                values[name] = values[name].upper()
        return cls(**values)

    def with_overrides(self, **overrides: Any) -> KafkaSecurity:
        """Command-line values win over the environment (``None`` means "not given")."""
        unknown = set(overrides) - _FIELDS
        if unknown:
            raise ConfigError(f"unknown kafka security settings: {sorted(unknown)}")
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def _protocol_and_sasl(self) -> dict[str, Any]:
        """The settings both client libraries name alike: protocol and SASL credentials."""
        kwargs: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.security_protocol.startswith("SASL_"):
            kwargs |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": self.sasl_password,
            }
        return kwargs

    def kafka_python(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's consumer, producer and admin client."""
        kwargs = self._protocol_and_sasl()
        if self.uses_ssl:
            kwargs["ssl_check_hostname"] = self.ssl_check_hostname
            optional = {
                "ssl_cafile": self.ssl_cafile,
                "ssl_certfile": self.ssl_certfile,
                "ssl_keyfile": self.ssl_keyfile,
                "ssl_password": self.ssl_key_password,
            }
            kwargs |= {k: v for k, v in optional.items() if v}
        return kwargs

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's consumer, producer and admin client."""
        kwargs = self._protocol_and_sasl()
        if self.uses_ssl:
            from aiokafka.helpers import create_ssl_context

            context = create_ssl_context(
                cafile=self.ssl_cafile,
                certfile=self.ssl_certfile,
                keyfile=self.ssl_keyfile,
                password=self.ssl_key_password,
            )
            context.check_hostname = self.ssl_check_hostname
            kwargs["ssl_context"] = context
        return kwargs


_FIELDS: Final = frozenset(f.name for f in fields(KafkaSecurity))
