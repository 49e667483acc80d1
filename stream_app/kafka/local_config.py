"""The local broker's files: its jars (resolved by Maven), its properties and log configuration, its cluster id."""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess
import uuid
from collections.abc import Mapping
from pathlib import Path

from stream_app.paths import KAFKA_LOCAL_DIR

log = logging.getLogger(__name__)

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


#: Why an installed package has no embedded broker (it is a development tool of a checkout).
NO_CHECKOUT = (
    "DECAY_BOOTSTRAP_SERVERS is not set, and the embedded development broker needs a checkout"
    " of the repository (deploy/kafka-local): set DECAY_BOOTSTRAP_SERVERS=host:port[,host:port]"
)


class KafkaLocalError(RuntimeError):
    """The local broker could not be installed or started."""


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
    if not (kafka_dir / "pom.xml").is_file():
        raise KafkaLocalError(NO_CHECKOUT)
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaLocalError("Maven (mvn) is needed to fetch the Kafka jars; install Maven 3.8+")
    log.info("Resolving Apache Kafka jars from Maven Central into %s", lib_dir)
    cmd = [mvn, "-q", "-B", "-f", str(kafka_dir / "pom.xml"), "dependency:copy-dependencies"]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
        raise KafkaLocalError(
            f"mvn failed ({result.returncode}) fetching the Kafka jars: {last[0]}"
        )
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


def kafka_version(kafka_dir: Path = KAFKA_LOCAL_DIR) -> str:
    """The Kafka version of the cached jars (from the kafka_2.13 jar name)."""
    for jar in (kafka_dir / "lib").glob("kafka_2.13-*.jar"):
        return jar.stem.removeprefix("kafka_2.13-")
    return "unknown"
