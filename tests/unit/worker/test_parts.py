"""The worker's pure parts, without a broker: chunking, checkpoint assembly, settings
validation, and the HTTP surface over a small core (envelopes: ``test_envelope.py``)."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from monitor.worker.checkpoint import (
    Checkpoint,
    _Scan,
    chunk_key,
    marker_key,
    pack_state,
    unpack_state,
)
from monitor.worker.http import build_web_app
from monitor.worker.metrics import WorkerMetrics
from monitor.worker.routing import ENVELOPE_MAX_BYTES, _chunks, _Group
from monitor.worker.settings import WorkerSettings
from tests.integration.worker.threshold_core import ThresholdCore
from tests.keys import RING as TRUSTED
from tests.keys import WORKER
from topics.codec import Decoder
from topics.errors import ConfigError
from topics.events import Metric

DEC = Decoder()


def metric(rid: str, ts: float, value: float = 0.01) -> Metric:
    return Metric(v=1, rollout_id=rid, variant="canary", ts=ts, name="error_rate", value=value)


def test_chunks_respect_event_count_and_bytes() -> None:
    assert _chunks([b"x"] * 5, 2) == [(0, 2), (2, 4), (4, 5)]
    big = b"y" * (ENVELOPE_MAX_BYTES // 2)
    assert _chunks([big, big, big], 1000) == [(0, 1), (1, 2), (2, 3)]


def test_a_group_keeps_runs_of_one_kind_of_message_in_read_order() -> None:
    group = _Group()
    group.add(range(0, 2), [b"a", b"b"], False, 1)
    group.add(range(16384, 16386), [b"c", b"d"], True, 2)
    group.add_whole(32768, 3, b"batch", 3)
    group.add(range(49152, 49153), [b"e"], True, 4)
    group.add(range(65536, 65537), [b"f"], True, 5)
    assert [(r.batched, list(r.offsets), r.raws, r.whole) for r in group.runs] == [
        (False, [0, 1], [b"a", b"b"], None),
        (True, [16384, 16385], [b"c", b"d"], None),
        (True, [32768, 32769, 32770], [], b"batch"),
        (True, [49152, 65536], [b"e", b"f"], None),
    ]
    assert group.kts == 5


def _records(q: int, prefix: str, checkpoint: Checkpoint, split: int) -> list[tuple[bytes, bytes]]:
    blob = checkpoint.encode()
    size = -(-len(blob) // split)
    parts = [blob[i : i + size] for i in range(0, len(blob), size)]
    marker = {"prefix": prefix, "chunks": len(parts), "sha256": hashlib.sha256(blob).hexdigest()}
    return [(chunk_key(q, prefix, i), p) for i, p in enumerate(parts)] + [
        (marker_key(q), orjson.dumps(marker))
    ]


def test_checkpoint_scan_takes_the_newest_complete_one() -> None:
    old = Checkpoint(3, 10, {"r1": {0: 5}}, {"r1": pack_state({"n": 1})})
    new = Checkpoint(3, 20, {"r1": {0: 9}, "r2": {1: 4}}, {"r1": pack_state({"n": 2})})
    scan = _Scan(3)
    for key, value in _records(3, "w-1", old, 2) + _records(3, "w-2", new, 3):
        scan.add(key, value)
    found = scan.result()
    assert found is not None and found[0].offset == 20 and found[1] == ("w-2", 3)
    assert unpack_state(found[0].states["r1"]) == {"n": 2}
    assert found[0].hwm == {"r1": {0: 9}, "r2": {1: 4}}  # r2: events but no core state


def test_checkpoint_scan_refuses_a_checkpoint_with_a_lost_chunk() -> None:
    records = _records(0, "w-1", Checkpoint(0, 5, {}, {}), 1)
    scan = _Scan(0)
    scan.add(*records[-1])  # the marker without its chunk
    assert scan.result() is None


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ConfigError, match="plan"):
        WorkerSettings(bootstrap="b:1", signing_key=WORKER, trusted_keys=TRUSTED)
    with pytest.raises(ConfigError, match="checkpoint"):
        WorkerSettings(
            bootstrap="b:1",
            signing_key=WORKER,
            trusted_keys=TRUSTED,
            core_factory="m:f",
            checkpoint_interval_s=0,
        )
    with pytest.raises(ConfigError, match="bootstrap"):
        WorkerSettings(bootstrap="", signing_key=WORKER, trusted_keys=TRUSTED, core_factory="m:f")


def test_http_surface_over_a_core() -> None:
    core = ThresholdCore()
    core.process([metric("r1", 1.7e9 + i, 0.2) for i in range(10)])
    metrics = WorkerMetrics("w1", "test")
    metrics.attach_core(lambda: core)
    app = build_web_app(core, metrics, lambda: {"ok": True})

    async def go() -> None:
        async with TestClient(TestServer(app)) as client:
            response = await client.get("/rollouts/r1")
            assert response.status == 200
            body = await response.json()
            assert body["verdict"] == "pause" and body["last_decisions"]
            assert (await client.get("/rollouts/zz")).status == 404
            assert (await client.get("/healthz")).status == 200
            text = await (await client.get("/metrics")).text()
            assert 'rollguard_rule_state{rollout="r1",rule="error_rate_high"} 2.0' in text
            assert 'rollguard_signal{rollout="r1"' in text

    asyncio.run(go())


def test_cli_refuses_to_start_without_its_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from monitor.cli import app

    for name in ("ROLLGUARD_SIGNING_KEY_FILE", "ROLLGUARD_TRUSTED_KEYS_FILE"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(
        app, ["worker", "--bootstrap", "127.0.0.1:1", "--core-factory", "x:y"]
    )
    assert result.exit_code == 2
    assert "needs its signing key" in result.output


def test_cli_checks_the_kafka_security_of_its_settings_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's Kafka security is the clients' one validated ``KafkaSecurity``: a SASL
    protocol without a password stops it at start-up, not at its first connection."""
    from typer.testing import CliRunner

    from monitor.cli import app

    for name in ("ROLLGUARD_KAFKA_SASL_PASSWORD", "ROLLGUARD_KAFKA_SASL_PASSWORD_FILE"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "worker.yaml"
    config.write_text("security_protocol: SASL_PLAINTEXT\nsasl_mechanism: PLAIN\n")
    args = ["worker", "--bootstrap", "127.0.0.1:1", "--config", str(config)]
    args += ["--signing-key", "/nonexistent", "--trusted-keys", "/nonexistent"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "SASL_PLAINTEXT needs ROLLGUARD_KAFKA_SASL_USERNAME" in result.output


def test_cli_refuses_hmac_keys_with_the_migration_note(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from monitor.cli import app

    monkeypatch.setenv("ROLLGUARD_SIGNING_KEYS", "k1=an-old-hmac-secret-0123")
    result = CliRunner().invoke(
        app, ["worker", "--bootstrap", "127.0.0.1:1", "--core-factory", "x:y"]
    )
    assert result.exit_code == 2
    assert "HMAC signing keys were removed" in result.output
    assert "an-old-hmac-secret" not in result.output


def test_a_worker_key_missing_from_its_ring_is_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from monitor.cli.worker import _warn_if_unverifiable
    from topics.keys import KeyRing, SigningKey

    other = SigningKey.generate(WORKER.key_id, "worker")  # same id, another key
    settings = WorkerSettings(
        bootstrap="b:1", signing_key=other, trusted_keys=TRUSTED, core_factory="m:f"
    )
    with caplog.at_level("WARNING"):
        _warn_if_unverifiable(settings)
    assert "will refuse this worker's commands" in caplog.text
    caplog.clear()
    ring = KeyRing([other.public(rollouts=("r*",))])
    _warn_if_unverifiable(WorkerSettings(bootstrap="b:1", signing_key=other, trusted_keys=ring,
                                         core_factory="m:f"))  # fmt: skip
    assert caplog.text == ""
