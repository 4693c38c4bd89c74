"""Start, wait for, restart and stop one single-node KRaft broker.

Each broker gets a fresh KRaft storage directory and free loopback ports, and is stopped by
the PID we started, never by process name. Single-node KRaft settings follow Kafka's own
quickstart (``config/server.properties``); start-up is allowed ``READY_TIMEOUT_S`` on a loaded
machine before it fails with the log's tail.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import orjson

from monitor.devbroker.jars import BrokerError, ensure_jars

READY_TIMEOUT_S: Final = 120.0

_LOG4J2: Final = """status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = {level}
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Broker:
    """A running broker we started. ``stop()`` ends exactly that process."""

    pid: int
    port: int
    controller_port: int
    workdir: Path
    started_s: float = 0.0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # pragma: no cover - not ours
            return True
        return _is_our_java(self.pid, self.workdir)

    def stop(self, timeout_s: float = 30.0, *, remove_data: bool = True) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while self.alive() and time.monotonic() < deadline:
                _reap(self.pid)
                time.sleep(0.1)
            if self.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
            _reap(self.pid, timeout_s=10.0)  # "not alive" can precede the exit by a moment
        if remove_data:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def kill(self) -> None:
        """SIGKILL, keeping the data (for restart tests)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self.alive() and time.monotonic() < deadline:  # signal delivery is async
            _reap(self.pid)
            time.sleep(0.05)
        _reap(self.pid, timeout_s=10.0)

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "pid": self.pid,
                "port": self.port,
                "controller_port": self.controller_port,
                "workdir": str(self.workdir),
            }
        )

    @classmethod
    def from_json(cls, data: bytes) -> Broker:
        raw = orjson.loads(data)
        return cls(
            pid=int(raw["pid"]),
            port=int(raw["port"]),
            controller_port=int(raw["controller_port"]),
            workdir=Path(raw["workdir"]),
        )


def _reap(pid: int, timeout_s: float = 0.0) -> None:
    """Collect our child's exit status so no zombie outlives us (a container's PID 1 may
    never reap orphans). A process we did not start (``dev broker stop``) is not ours to reap."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except (ChildProcessError, OSError):
            return
        if done == pid or time.monotonic() >= deadline:
            return
        time.sleep(0.05)


def _is_our_java(pid: int, workdir: Path) -> bool:
    """Guard against PID reuse: the process must be the java started on our workdir."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return str(workdir).encode() in cmdline


def _properties(workdir: Path, port: int, controller_port: int, partitions: int) -> str:
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={workdir / 'data'}",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=4",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            f"num.partitions={partitions}",
            "auto.create.topics.enable=true",
            "log.segment.bytes=67108864",
            "log.cleaner.backoff.ms=2000",
            "",
        ]
    )


def _java_cmd(libs: Path, workdir: Path, main: str, *args: str) -> list[str]:
    java = shutil.which("java")
    if java is None:
        raise BrokerError("java (17+) is needed to run the Kafka broker")
    return [
        java,
        "-Xms256m",
        "-Xmx768m",
        "-XX:+UseG1GC",
        "-XX:TieredStopAtLevel=1",  # C1 only: starts ~2x faster; plenty for a dev broker
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={workdir / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={workdir}",
        "-cp",
        f"{libs}/*",
        main,
        *args,
    ]


def start(
    *,
    workdir: Path | None = None,
    port: int | None = None,
    partitions: int = 4,
    timeout_s: float = READY_TIMEOUT_S,
    log_level: str = "WARN",
) -> Broker:
    """Fetch (once), format and start a broker; return when it answers metadata requests."""
    libs = ensure_jars()
    begin = time.monotonic()
    fresh = workdir is None or not (workdir / "data" / "meta.properties").exists()
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="rollguard-kafka-"))
    workdir.mkdir(parents=True, exist_ok=True)
    props = workdir / "server.properties"
    if fresh or port is None:
        port = port or free_port()
        controller_port = free_port()
        props.write_text(_properties(workdir, port, controller_port, partitions))
    else:
        controller_port = _controller_port(props)
    (workdir / "log4j2.properties").write_text(_LOG4J2.format(level=log_level))
    if fresh:
        fmt = subprocess.run(
            _java_cmd(
                libs,
                workdir,
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={_cluster_id()}",
                f"--config={props}",
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if fmt.returncode != 0:
            raise BrokerError(
                f"formatting KRaft storage failed:\n{(fmt.stdout + fmt.stderr)[-3000:]}"
            )
    log = (workdir / "server.log").open("ab")
    proc = subprocess.Popen(
        _java_cmd(libs, workdir, "kafka.Kafka", str(props)),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C in the terminal reaches us, and we stop it cleanly
    )
    log.close()
    broker = Broker(pid=proc.pid, port=port, controller_port=controller_port, workdir=workdir)
    try:
        wait_ready(broker, timeout_s, proc)
    except BaseException:
        broker.stop(remove_data=False)
        raise
    broker.started_s = time.monotonic() - begin
    return broker


def restart(broker: Broker, timeout_s: float = READY_TIMEOUT_S) -> Broker:
    """Start again on the same storage and ports (after ``kill()`` or a stop keeping data)."""
    return start(workdir=broker.workdir, port=broker.port, timeout_s=timeout_s)


def _controller_port(props: Path) -> int:
    for line in props.read_text().splitlines():
        if line.startswith("controller.quorum.voters="):
            return int(line.rsplit(":", 1)[1])
    raise BrokerError(f"{props}: no controller.quorum.voters")


def _cluster_id() -> str:
    # KRaft cluster ids are 16 random bytes, URL-safe base64 without padding (22 chars).
    import base64
    import uuid

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def wait_ready(
    broker: Broker, timeout_s: float, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Ready = the port accepts a connection and a metadata request succeeds."""
    deadline = time.monotonic() + timeout_s
    last_error = "port not open yet"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BrokerError(
                f"Kafka exited with code {proc.returncode} during start-up; log tail:\n"
                + log_tail(broker)
            )
        try:
            with socket.create_connection(("127.0.0.1", broker.port), timeout=1):
                pass
            _metadata_request(broker.bootstrap)
            return
        except Exception as exc:  # not ready yet: keep polling until the deadline
            last_error = repr(exc)
            time.sleep(0.25)
    raise BrokerError(
        f"Kafka not ready after {timeout_s:.0f} s ({last_error}); log tail:\n" + log_tail(broker)
    )


def _metadata_request(bootstrap: str) -> None:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        admin.describe_cluster()
    finally:
        admin.close()


def log_tail(broker: Broker, lines: int = 40) -> str:
    try:
        return "\n".join(broker.log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
