"""Small kafka-python helpers for the commands (replay, tail) and tests: topics, producer, reads.

Every kafka-python client of the project is built here, with the connection options of
`Settings.kafka_python_config()` (security protocol, SASL, TLS) passed as `client_config`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from aiokafka import errors as aiokafka_errors
from aiokafka.conn import create_conn
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import (
    KafkaError,
    KafkaTimeoutError,
    TopicAlreadyExistsError,
)

PROBE_OPTIONS = (
    "security_protocol",
    "ssl_context",
    "sasl_mechanism",
    "sasl_plain_username",
    "sasl_plain_password",
)
LOGIN_ERRORS = (
    aiokafka_errors.SaslAuthenticationFailed,
    aiokafka_errors.UnsupportedSaslMechanismError,
    aiokafka_errors.IllegalSaslStateError,
    aiokafka_errors.AuthenticationFailedError,
)


class KafkaConnectError(ConnectionError):
    """A client could not connect to the cluster; the message says why (SASL, TLS)."""


def login_failure(
    bootstrap: str, client_config: dict[str, object] | None, timeout_seconds: float = 15.0
) -> str | None:
    """Why a secured client cannot log in at the first of `bootstrap` (None: no such reason).

    One direct connection with the same options. kafka-python 3.0 retries a refused login
    until its bootstrap timeout, then says only "Unable to bootstrap", and can lose the broker's
    reason (it drops the bytes that arrive together with the close that follows a failed
    login); aiokafka's connection reads that reason reliably.
    """
    config = client_config or {}
    if config.get("security_protocol", "PLAINTEXT") == "PLAINTEXT":
        return None
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    options = {key: config[key] for key in PROBE_OPTIONS if key in config}

    async def connect() -> None:
        timeout_ms = int(timeout_seconds * 1000)
        conn = await create_conn(host, int(port), request_timeout_ms=timeout_ms, **options)
        conn.close()

    try:
        asyncio.run(asyncio.wait_for(connect(), timeout_seconds))
    except LOGIN_ERRORS as exc:
        return (
            f"Kafka at {host}:{port} refused the login: {exc}"
            " (check the SASL mechanism, user name and password)"
        )
    except ssl.SSLError as exc:
        return (
            f"TLS with Kafka at {host}:{port} failed: {exc}"
            " (check the CA file and that the broker's certificate names this host)"
        )
    except Exception:
        return None
    return None


@contextlib.contextmanager
def explained_connection_errors(
    bootstrap: str, client_config: dict[str, object] | None
) -> Iterator[None]:
    """Turn kafka-python's bare bootstrap timeout into one line: a refused login, TLS, no broker."""
    try:
        yield
    except KafkaTimeoutError:
        reason = login_failure(bootstrap, client_config) or (
            f"no broker answered at {bootstrap} (check DECAY_BOOTSTRAP_SERVERS and that Kafka runs)"
        )
        raise KafkaConnectError(reason) from None


def new_admin(bootstrap: str, client_config: dict[str, object] | None = None) -> KafkaAdminClient:
    """An admin client; a refused login or TLS handshake raises KafkaConnectError."""
    with explained_connection_errors(bootstrap, client_config):
        return KafkaAdminClient(bootstrap_servers=bootstrap, **(client_config or {}))


def new_consumer(
    bootstrap: str, *topics: str, client_config: dict[str, object] | None = None, **options: Any
) -> KafkaConsumer:
    """A consumer (subscribed to `topics`, if any); connection failures as in `new_admin`."""
    with explained_connection_errors(bootstrap, client_config):
        return KafkaConsumer(
            *topics, bootstrap_servers=bootstrap, **options, **(client_config or {})
        )


@dataclass(frozen=True, slots=True)
class Record:
    """One message read back from a topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp_ms: int

    def json(self) -> Any:
        """The value parsed as JSON."""
        return json.loads(self.value or b"null")


def ensure_topic(
    bootstrap: str,
    topic: str,
    partitions: int,
    config: dict[str, str] | None = None,
    client_config: dict[str, object] | None = None,
    replication_factor: int = 1,
) -> None:
    """Create `topic` with `partitions` unless it exists."""
    admin = new_admin(bootstrap, client_config)
    try:
        if topic in admin.list_topics():
            return
        new = NewTopic(
            topic,
            num_partitions=partitions,
            replication_factor=replication_factor,
            topic_configs=config or {},
        )
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics([new])
    finally:
        admin.close()


def new_producer(bootstrap: str, client_config: dict[str, object] | None = None) -> KafkaProducer:
    """An idempotent, acks=all producer for raw bytes."""
    with explained_connection_errors(bootstrap, client_config):
        return KafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            batch_size=256 * 1024,
            max_request_size=8 * 1024 * 1024,
            **(client_config or {}),
        )


def produce_all(
    producer: KafkaProducer, topic: str, messages: Iterable[tuple[bytes | None, bytes | None]]
) -> int:
    """Send (key, value) pairs and flush; returns how many were sent."""
    count = 0
    for key, value in messages:
        producer.send(topic, key=key, value=value)
        count += 1
    producer.flush()
    return count


def end_offsets(
    bootstrap: str, topic: str, client_config: dict[str, object] | None = None
) -> dict[int, int]:
    """Partition → end offset of a topic."""
    consumer = new_consumer(bootstrap, client_config=client_config, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def first_offset_from(
    bootstrap: str,
    topic: str,
    partition: int,
    offset: int,
    *,
    read_committed: bool,
    client_config: dict[str, object] | None = None,
    timeout_seconds: float = 10.0,
) -> int | None:
    """The offset of the first record a fetch from `offset` returns (None: none within the time).

    Offsets between `offset` and the result do not exist for a consumer with the same isolation
    level (transaction markers, aborted or compacted records).
    """
    consumer = new_consumer(
        bootstrap,
        client_config=client_config,
        enable_auto_commit=False,
        isolation_level="read_committed" if read_committed else "read_uncommitted",
    )
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            records = consumer.poll(timeout_ms=500, max_records=1).get(tp)
            if records:
                return int(records[0].offset)
        return None
    finally:
        consumer.close()


def read_topic(
    bootstrap: str,
    topic: str,
    *,
    timeout_seconds: float = 10.0,
    until_count: int | None = None,
    client_config: dict[str, object] | None = None,
) -> Iterator[Record]:
    """Every message of `topic` from the beginning up to its current end (or `until_count`)."""
    consumer = new_consumer(
        bootstrap,
        client_config=client_config,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        target = until_count if until_count is not None else sum(ends.values())
        seen = 0
        deadline = time.monotonic() + timeout_seconds
        while seen < target and time.monotonic() < deadline:
            for tp, batch in consumer.poll(timeout_ms=200).items():
                for msg in batch:
                    seen += 1
                    yield Record(
                        tp.topic, tp.partition, msg.offset, msg.key, msg.value,
                        list(msg.headers or []), msg.timestamp,
                    )  # fmt: skip
    finally:
        consumer.close()


def latest_by_key(records: Iterable[Record]) -> dict[bytes, bytes | None]:
    """Compacted view: the last value per key (what a changelog-backed table recovers)."""
    latest: dict[bytes, bytes | None] = {}
    for record in records:
        if record.key is not None:
            latest[record.key] = record.value
    return latest


def group_lag(
    bootstrap: str, group: str, topic: str, client_config: dict[str, object] | None = None
) -> int | None:
    """Messages of `topic` not yet committed by consumer `group` (None: group has no offsets)."""
    admin = new_admin(bootstrap, client_config)
    try:
        committed = {
            tp.partition: meta.offset
            for tp, meta in admin.list_group_offsets({group: None}).get(group, {}).items()
            if tp.topic == topic
        }
    finally:
        admin.close()
    if not committed:
        return None
    ends = end_offsets(bootstrap, topic, client_config)
    return int(sum(end - max(committed.get(partition, 0), 0) for partition, end in ends.items()))


def wait_caught_up(
    bootstrap: str,
    group: str,
    topic: str,
    *,
    timeout_seconds: float = 120.0,
    client_config: dict[str, object] | None = None,
) -> None:
    """Block until `group` has committed everything on `topic`; TimeoutError otherwise."""
    deadline = time.monotonic() + timeout_seconds
    lag: int | None = None
    while time.monotonic() < deadline:
        try:
            lag = group_lag(bootstrap, group, topic, client_config)
        except KafkaError:  # coordinator still loading, group rebalancing
            lag = None
        if lag == 0:
            return
        time.sleep(0.5)
    raise TimeoutError(f"group {group} still {lag} messages behind on {topic}")
