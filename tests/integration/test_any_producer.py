"""Events from a librdkafka producer (confluent-kafka, default partitioner) on the real broker."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import Producer

from stream_app.commands.replay import encode_event
from stream_app.data.sources import load_events
from stream_app.events.partitioning import Partitioner, partition_for_key
from stream_app.kafka.reading import end_offsets, read_topic, wait_caught_up
from stream_app.settings import Settings
from stream_app.state import decode_state
from stream_app.topology import changelog_topic
from tests.integration.support import WorkerFactory

pytestmark = pytest.mark.integration


def produce_with_confluent_kafka(
    bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]
) -> dict[bytes, int]:
    """Produce with confluent-kafka's default configuration; each key's delivered partition."""
    producer = Producer({"bootstrap.servers": bootstrap})
    delivered: dict[bytes, int] = {}

    def on_delivery(err: object, message: object) -> None:
        assert err is None, err
        delivered[message.key()] = message.partition()  # type: ignore[attr-defined]

    for key, value in messages:
        producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
        producer.poll(0)
    assert producer.flush(60) == 0
    return delivered


def test_events_of_librdkafkas_default_partitioner_end_in_the_state(
    settings: Settings, workers: WorkerFactory, shared_data: Path
) -> None:
    settings = settings.model_copy(update={"producer_partitioner": Partitioner.CRC32})
    workers.start(settings)
    assert settings.bootstrap_servers
    events = list(load_events("taobao-slice", shared_data))[:3_000]
    delivered = produce_with_confluent_kafka(
        settings.bootstrap_servers, settings.events_topic, [encode_event(e) for e in events]
    )
    parts = settings.partitions
    assert all(p == partition_for_key(k, parts, Partitioner.CRC32) for k, p in delivered.items())
    elsewhere = sum(p != partition_for_key(k, parts) for k, p in delivered.items())
    assert elsewhere > len(delivered) / 2  # most users are not where murmur2 would put them

    wait_caught_up(
        settings.bootstrap_servers, settings.app_id, settings.events_topic, timeout_seconds=180
    )
    assert sum(end_offsets(settings.bootstrap_servers, settings.dead_letter_topic).values()) == 0
    latest: dict[bytes, tuple[int, bytes | None]] = {}
    for record in read_topic(
        settings.bootstrap_servers, changelog_topic(settings.app_id), timeout_seconds=30
    ):
        assert record.key is not None
        latest[record.key] = (record.partition, record.value)
    assert {k: p for k, (p, _) in latest.items()} == delivered  # the state is where its events are
    totals = {k.decode(): decode_state(v).events_total for k, (_, v) in latest.items() if v}
    assert totals == dict(Counter(e.user_id for e in events))
