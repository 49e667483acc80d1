"""Reading topics back: records, end offsets, a group's lag, waiting until a group caught up."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from kafka import TopicPartition
from kafka.errors import (
    KafkaError,
)

from stream_app.kafka.clients import new_admin, new_consumer


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


def committed_offsets(
    bootstrap: str, group: str, topic: str, client_config: dict[str, object] | None = None
) -> dict[int, int]:
    """Partition → the offset consumer `group` committed on `topic` (empty: none yet)."""
    admin = new_admin(bootstrap, client_config)
    try:
        return {
            tp.partition: meta.offset
            for tp, meta in admin.list_group_offsets({group: None}).get(group, {}).items()
            if tp.topic == topic
        }
    finally:
        admin.close()


def group_lag(
    bootstrap: str, group: str, topic: str, client_config: dict[str, object] | None = None
) -> int | None:
    """Messages of `topic` not yet committed by consumer `group` (None: group has no offsets)."""
    committed = committed_offsets(bootstrap, group, topic, client_config)
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


def wait_committed_past(
    bootstrap: str,
    group: str,
    topic: str,
    offsets: dict[int, int],
    *,
    timeout_seconds: float = 120.0,
    client_config: dict[str, object] | None = None,
) -> None:
    """Block until `group` has committed at least `offsets` (partition → offset) on `topic`,
    however far the topic has grown since; TimeoutError otherwise."""
    deadline = time.monotonic() + timeout_seconds
    behind = dict(offsets)
    while time.monotonic() < deadline:
        try:
            committed = committed_offsets(bootstrap, group, topic, client_config)
        except KafkaError:  # coordinator still loading, group rebalancing
            committed = {}
        behind = {p: o for p, o in offsets.items() if o > 0 and committed.get(p, -1) < o}
        if not behind:
            return
        time.sleep(0.5)
    raise TimeoutError(f"group {group} has not committed {behind} on {topic}")
