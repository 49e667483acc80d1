"""Small kafka-python helpers for the commands (replay, tail) and tests: topics, producer, reads."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError


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
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **(client_config or {}))
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
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, **(client_config or {})
    )
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(tps).items()}
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
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
        **(client_config or {}),
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
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **(client_config or {}))
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
