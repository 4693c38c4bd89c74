"""SASL/TLS settings from the environment map to the Kafka clients' own keyword arguments."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from monitor.edge.kafka_options import KafkaSecurity
from topics.errors import ConfigError


def test_default_is_plaintext_for_both_clients() -> None:
    security = KafkaSecurity.from_env({})
    assert security.kafka_python() == {"security_protocol": "PLAINTEXT"}
    assert security.aiokafka() == {"security_protocol": "PLAINTEXT"}


def test_sasl_ssl_with_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret-pass\n")
    ca = tmp_path / "ca.pem"
    ca.write_text("")  # existence is checked here; the TLS stack reads it at connect time
    env = {
        "ROLLGUARD_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
        "ROLLGUARD_KAFKA_SASL_MECHANISM": "scram-sha-512",
        "ROLLGUARD_KAFKA_SASL_USERNAME": "orchestrator",
        "ROLLGUARD_KAFKA_SASL_PASSWORD_FILE": str(secret),
        "ROLLGUARD_KAFKA_SSL_CAFILE": str(ca),
        "ROLLGUARD_KAFKA_SSL_CHECK_HOSTNAME": "0",
    }
    security = KafkaSecurity.from_env(env)
    assert "s3cret" not in repr(security)
    assert security.kafka_python() == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "orchestrator",
        "sasl_plain_password": "s3cret-pass",
        "ssl_check_hostname": False,
        "ssl_cafile": str(ca),
    }
    with pytest.raises(ssl.SSLError):  # aiokafka builds an SSLContext that loads the CA now
        security.aiokafka()


def test_aiokafka_gets_an_ssl_context() -> None:
    options = KafkaSecurity(security_protocol="SSL").aiokafka()
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["ssl_context"].check_hostname is True


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"security_protocol": "TLS"}, "expected one of"),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI"}, "mechanism"),
        ({"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN"}, "USERNAME"),
        ({"sasl_mechanism": "PLAIN"}, "needs security protocol"),
        ({"security_protocol": "SSL", "ssl_cafile": "/nonexistent/ca.pem"}, "no such file"),
    ],
)
def test_bad_settings_fail_early(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        KafkaSecurity(**kwargs)  # type: ignore[arg-type]


def test_command_line_overrides_the_environment() -> None:
    base = KafkaSecurity.from_env({"ROLLGUARD_KAFKA_SECURITY_PROTOCOL": "SSL"})
    assert base.with_overrides(security_protocol=None).security_protocol == "SSL"
    assert base.with_overrides(security_protocol="PLAINTEXT").security_protocol == "PLAINTEXT"
    with pytest.raises(ConfigError):
        base.with_overrides(password="x")


def test_a_settings_file_yields_to_the_environment_and_the_command_line() -> None:
    file = {"security_protocol": "sasl_plaintext", "sasl_mechanism": "PLAIN",
            "sasl_username": "file-user", "sasl_password": "file-pw"}  # fmt: skip
    env = {"ROLLGUARD_KAFKA_SASL_USERNAME": "env-user"}
    security = KafkaSecurity.from_env(env, defaults=file, overrides={"sasl_mechanism": None})
    assert (security.security_protocol, security.sasl_mechanism) == ("SASL_PLAINTEXT", "PLAIN")
    assert (security.sasl_username, security.sasl_password) == ("env-user", "file-pw")
    cli = {"sasl_username": "cli-user"}
    assert KafkaSecurity.from_env(env, defaults=file, overrides=cli).sasl_username == "cli-user"


def test_settings_are_checked_once_all_of_them_are_merged() -> None:
    """The environment alone is incomplete here (the password is in the file): no error."""
    env = {
        "ROLLGUARD_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "ROLLGUARD_KAFKA_SASL_MECHANISM": "PLAIN",
    }
    file = {"sasl_username": "u", "sasl_password": "p"}
    assert KafkaSecurity.from_env(env, defaults=file).uses_ssl
    with pytest.raises(ConfigError, match="SASL_PASSWORD"):
        KafkaSecurity.from_env(env, defaults={"sasl_username": "u"})
    with pytest.raises(ConfigError, match="unknown kafka security settings"):
        KafkaSecurity.from_env(env, defaults={"sasl_pasword": "p"})
