"""A real single-node Apache Kafka broker (KRaft) for development and tests, no Docker.

The jars come from Maven Central through `deploy/kafka-local/pom.xml` (cached in
`deploy/kafka-local/lib/`); the broker runs with the machine's Java 17 as one process that is both
broker and controller, bound to 127.0.0.1.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from stream_app.kafka.local_config import (
    LOG4J_PROPERTIES,
    KafkaLocalError,
    broker_properties,
    ensure_jars,
    kafka_version,
    new_cluster_id,
    write_properties,
)

log = logging.getLogger(__name__)

SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
#: What `kafka-storage format --add-scram` parses safely inside `[name=…,password=…]`.
SCRAM_FIELD = re.compile(r"[A-Za-z0-9_-]+")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalKafka:
    """A local broker process living in `data_dir`; start, stop and restart keep its data."""

    data_dir: Path
    port: int = 0
    controller_port: int = 0
    extra_properties: Mapping[str, str] = field(default_factory=dict)
    extra_listeners: Mapping[str, str] = field(default_factory=dict)
    #: Port of each extra listener; a free port is picked for any listener not given here.
    listener_ports: dict[str, int] = field(default_factory=dict)
    #: SCRAM users (name → password) created when the storage is formatted, for every mechanism
    #: in SCRAM_MECHANISMS; the broker still needs a SASL listener to accept them.
    scram_users: Mapping[str, str] = field(default_factory=dict, repr=False)
    heap: str = "512m"
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.port = self.port or free_port()
        self.controller_port = self.controller_port or free_port()
        for name in self.extra_listeners:
            self.listener_ports.setdefault(name, free_port())

    @property
    def bootstrap_servers(self) -> str:
        """host:port of the PLAINTEXT listener."""
        return f"127.0.0.1:{self.port}"

    def listener_port(self, name: str) -> int:
        """Port of an extra listener given at construction."""
        return self.listener_ports[name]

    def listener_bootstrap_servers(self, name: str) -> str:
        """host:port of an extra listener given at construction."""
        return f"127.0.0.1:{self.listener_port(name)}"

    @property
    def log_file(self) -> Path:
        """The broker's own log."""
        return self.data_dir / "server.log"

    def _java_command(self, lib_dir: Path, main_class: str, *args: str) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise KafkaLocalError("Java 17 is needed to run the local Kafka broker")
        return [
            java,
            f"-Xmx{self.heap}",
            f"-Xms{self.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.data_dir / 'log4j.properties'}",
            "-cp",
            f"{lib_dir}/*",
            main_class,
            *args,
        ]

    def _prepare(self, lib_dir: Path) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props_path = self.data_dir / "server.properties"
        props = broker_properties(
            port=self.port,
            controller_port=self.controller_port,
            log_dir=self.data_dir / "logs",
            extra=self.extra_properties,
            listeners=self.extra_listeners,
            listener_ports=self.listener_ports,
        )
        write_properties(props_path, props)
        (self.data_dir / "log4j.properties").write_text(
            LOG4J_PROPERTIES.format(log_file=self.log_file), encoding="utf-8"
        )
        if not (self.data_dir / "logs" / "meta.properties").exists():
            fmt = self._java_command(
                lib_dir, "kafka.tools.StorageTool", "format", "-t", new_cluster_id(),
                "-c", str(props_path), "--ignore-formatted", *self._scram_arguments(),
            )  # fmt: skip
            result = subprocess.run(fmt, capture_output=True, text=True, check=False)  # noqa: S603
            if result.returncode != 0:
                raise KafkaLocalError(
                    f"kafka storage format failed:\n{result.stdout}{result.stderr}"
                )
        return props_path

    def _scram_arguments(self) -> list[str]:
        """`kafka-storage format` options that create the SCRAM users (KRaft bootstrap records)."""
        args = []
        for name, password in self.scram_users.items():
            if not SCRAM_FIELD.fullmatch(name) or not SCRAM_FIELD.fullmatch(password):
                raise KafkaLocalError("SCRAM user names and passwords: letters, digits, - and _")
            for mechanism in SCRAM_MECHANISMS:
                args += ["--add-scram", f"{mechanism}=[name={name},password={password}]"]
        return args

    def start(self, timeout_seconds: float = 90.0) -> LocalKafka:
        """Start the broker and wait until it answers metadata requests."""
        lib_dir = ensure_jars()
        props_path = self._prepare(lib_dir)
        stdout = (self.data_dir / "stdout.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603
            self._java_command(lib_dir, "kafka.Kafka", str(props_path)),
            stdout=stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        stdout.close()
        self._wait_ready(timeout_seconds)
        log.info("Local Kafka %s ready at %s", kafka_version(), self.bootstrap_servers)
        return self

    def _wait_ready(self, timeout_seconds: float) -> None:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise KafkaLocalError(f"broker exited early:\n{self.tail_log()}")
            if metadata_ok(self.bootstrap_servers):
                return
            time.sleep(0.3)
        self.stop()
        raise KafkaLocalError(f"broker not ready after {timeout_seconds:.0f}s:\n{self.tail_log()}")

    def stop(self, timeout_seconds: float = 30.0) -> None:
        """Stop the broker cleanly (SIGTERM), killing it if it does not exit in time."""
        if self.process is None or self.process.poll() is not None:
            self.process = None
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def restart(self) -> None:
        """Stop and start again on the same ports and data."""
        self.stop()
        self.start()

    def tail_log(self, lines: int = 40) -> str:
        """Last lines of the broker's output, for error messages."""
        out = []
        for path in (self.data_dir / "stdout.log", self.log_file):
            if path.exists():
                out.extend(path.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(out)


def metadata_ok(bootstrap_servers: str) -> bool:
    """True when the broker answers a metadata request with itself in the cluster."""
    host, port = bootstrap_servers.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            pass
    except OSError:
        return False
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=3000)
    except (KafkaError, OSError, ValueError):
        return False
    try:
        return bool(admin.describe_cluster().get("brokers"))
    except (KafkaError, OSError, ValueError):
        return False
    finally:
        admin.close()


@contextmanager
def running_kafka(data_dir: Path, port: int = 0, **kwargs: object) -> Iterator[LocalKafka]:
    """Context manager: a started local broker, stopped on exit."""
    broker = LocalKafka(data_dir=data_dir, port=port, **kwargs)  # type: ignore[arg-type]
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
