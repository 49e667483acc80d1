"""A real single-node Apache Kafka broker (KRaft) for development and tests, no Docker.

The jars come from Maven Central through `deploy/kafka-local/pom.xml` (cached in
`deploy/kafka-local/lib/`); the broker runs with the machine's Java 17 as one process that is both
broker and controller, bound to 127.0.0.1.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from stream_app.paths import KAFKA_LOCAL_DIR

log = logging.getLogger(__name__)

SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
#: What `kafka-storage format --add-scram` parses safely inside `[name=…,password=…]`.
SCRAM_FIELD = re.compile(r"[A-Za-z0-9_-]+")

#: Settings from Kafka's own test clusters: fast group joins, single replicas.
DEFAULT_BROKER_PROPERTIES: Mapping[str, str] = {
    "num.partitions": "1",
    "auto.create.topics.enable": "false",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "5",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "5",
    "group.initial.rebalance.delay.ms": "0",
    "default.replication.factor": "1",
    "min.insync.replicas": "1",
    "message.max.bytes": str(8 * 1024 * 1024),
    "replica.fetch.max.bytes": str(8 * 1024 * 1024),
    "log.segment.bytes": str(64 * 1024 * 1024),
    "log.retention.check.interval.ms": "300000",
    "num.network.threads": "2",
    "num.io.threads": "2",
    "num.recovery.threads.per.data.dir": "1",
    "log.flush.interval.messages": "9223372036854775807",
}

LOG4J_PROPERTIES = """\
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File={log_file}
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.request.logger=WARN
"""


class KafkaLocalError(RuntimeError):
    """The local broker could not be installed or started."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def new_cluster_id() -> str:
    """A KRaft cluster id: a random UUID in URL-safe base64 without padding.

    Never one that starts with '-': the storage tool would read it as an option.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def ensure_jars(kafka_dir: Path = KAFKA_LOCAL_DIR) -> Path:
    """Resolve the broker jars with Maven into `kafka_dir/lib` unless already there."""
    lib_dir = kafka_dir / "lib"
    if any(lib_dir.glob("kafka_2.13-*.jar")):
        return lib_dir
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaLocalError("Maven (mvn) is needed to fetch the Kafka jars; install Maven 3.8+")
    log.info("Resolving Apache Kafka jars from Maven Central into %s", lib_dir)
    cmd = [mvn, "-q", "-B", "-f", str(kafka_dir / "pom.xml"), "dependency:copy-dependencies"]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise KafkaLocalError(f"mvn failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return lib_dir


def broker_properties(
    *,
    port: int,
    controller_port: int,
    log_dir: Path,
    extra: Mapping[str, str] | None = None,
    listeners: Mapping[str, str] | None = None,
    listener_ports: Mapping[str, int] | None = None,
) -> dict[str, str]:
    """server.properties for one combined broker+controller node on 127.0.0.1.

    `listeners` maps extra listener names to security protocols (e.g. SASL_SSL); each listens on
    its port in `listener_ports`, or else on consecutive ports after `port` in the given order.
    """
    names = {"PLAINTEXT": "PLAINTEXT", **(listeners or {})}
    ports = {name: port + offset for offset, name in enumerate(names)}
    ports.update(listener_ports or {})
    listener_list = [f"{name}://127.0.0.1:{ports[name]}" for name in names]
    protocol_map = [f"{name}:{proto}" for name, proto in names.items()]
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": ",".join([*listener_list, f"CONTROLLER://127.0.0.1:{controller_port}"]),
        "advertised.listeners": ",".join(listener_list),
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": ",".join([*protocol_map, "CONTROLLER:PLAINTEXT"]),
        "log.dirs": str(log_dir),
        **DEFAULT_BROKER_PROPERTIES,
    }
    props.update(extra or {})
    return props


def write_properties(path: Path, props: Mapping[str, str]) -> None:
    """Write a Java properties file."""
    path.write_text("".join(f"{key}={value}\n" for key, value in props.items()), encoding="utf-8")


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


def kafka_version(kafka_dir: Path = KAFKA_LOCAL_DIR) -> str:
    """The Kafka version of the cached jars (from the kafka_2.13 jar name)."""
    for jar in (kafka_dir / "lib").glob("kafka_2.13-*.jar"):
        return jar.stem.removeprefix("kafka_2.13-")
    return "unknown"


@contextmanager
def running_kafka(data_dir: Path, port: int = 0, **kwargs: object) -> Iterator[LocalKafka]:
    """Context manager: a started local broker, stopped on exit."""
    broker = LocalKafka(data_dir=data_dir, port=port, **kwargs)  # type: ignore[arg-type]
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
