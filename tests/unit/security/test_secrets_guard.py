"""The guard that no output shows a test secret (``tests/secrets.py`` + ``tests/conftest.py``)
can fail, and the objects that hold secrets never show them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from monitor.edge.kafka_options import KafkaSecurity
from monitor.worker.settings import WorkerSettings
from tests.keys import OPERATOR, RING, WORKER
from tests.secrets import assert_clean, leaks, secret

ROOT = Path(__file__).resolve().parents[3]


def test_a_secret_in_any_of_its_forms_is_found() -> None:
    planted = secret("planted for the guard's own test", "planted-0123456789-abc")
    assert leaks(f"log line: {planted}\n") == ["planted for the guard's own test"]
    seed_hex = WORKER.private.private_bytes_raw().hex()
    assert leaks(seed_hex.upper()) == [f"private key {WORKER.key_id}"]
    assert leaks("nothing here") == []


def test_a_test_that_prints_a_secret_fails_and_the_report_withholds_it(tmp_path: Path) -> None:
    """A session of its own (same conftest), with one test printing a registered secret."""
    test = tmp_path / "test_leaky.py"
    test.write_text(
        "from tests.secrets import secret\n"
        "VALUE = secret('leaky token', 'leaky-token-0123456789')\n"
        "def test_prints_it():\n"
        "    print('the token is', VALUE)\n"
        "def test_keeps_it():\n"
        "    assert VALUE\n"
    )
    (tmp_path / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text())
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test),
         "--rootdir", str(tmp_path), "-o", "addopts="],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 1, done.stdout[-2000:]
    assert "printed test secrets: ['leaky token']" in done.stdout
    assert "1 failed, 1 passed" in done.stdout
    assert "leaky-token-0123456789" not in done.stdout + done.stderr


def test_objects_holding_secrets_never_show_them() -> None:
    password = secret("sasl password (settings)", "settings-sasl-pw-0123")
    token = secret("http token (settings)", "settings-http-token-0123")
    grafana = secret("grafana token (settings)", "settings-grafana-token-0123")
    settings = WorkerSettings(
        bootstrap="k:9092",
        signing_key=WORKER,
        trusted_keys=RING,
        core_factory="m:f",
        security=KafkaSecurity(
            security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN", sasl_username="u",
            sasl_password=password,
        ),
        http_token=token,
        grafana_url="http://g:3000",
        grafana_token=grafana,
    )  # fmt: skip
    client_side = KafkaSecurity(
        security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", sasl_username="u",
        sasl_password=password,
    )  # fmt: skip
    for shown in (repr(settings), str(settings), repr(client_side), repr(WORKER), repr(OPERATOR)):
        assert_clean(shown, "repr")


def test_a_broken_worker_settings_file_is_reported_without_its_lines(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from monitor.cli import app

    password = secret("sasl password (settings file)", "settings-file-pw-0123")
    config = tmp_path / "worker.yaml"
    config.write_text(f"bootstrap: k:9092\nsasl_password: {password}: [\n")
    result = CliRunner().invoke(app, ["worker", "--config", str(config)])
    assert result.exit_code == 2 and "not valid YAML at line 2" in " ".join(result.output.split())
    assert_clean(result.output, "worker CLI error")
