"""Small kafka-python helpers for the commands (replay, tail) and tests: topics, producer, reads.

Every kafka-python client of the project is built here, with the connection options of
`kafka.connection.kafka_python_config` (security protocol, SASL, TLS) passed as `client_config`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterable, Iterator
from typing import Any

from aiokafka import errors as aiokafka_errors
from aiokafka.conn import create_conn
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import (
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
