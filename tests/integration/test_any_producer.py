"""Events from other clients on the real broker: a librdkafka producer (confluent-kafka, its
default partitioner) and a producer framing its JSON in the schema registry's wire format."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import Producer

from stream_app.commands.replay import encode_event
from stream_app.contracts import contracts
from stream_app.data.sources import load_events
from stream_app.events.partitioning import Partitioner, partition_for_key
from stream_app.kafka.reading import end_offsets, read_topic, wait_caught_up
from stream_app.settings import Settings
from stream_app.state import decode_state
from stream_app.topology import changelog_topic
from tests.integration.support import WorkerFactory
from tests.registry_stand_in import StandInRegistry, serving

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


def framed(value: bytes, schema_id: int) -> bytes:
    """As Confluent's JSONSchemaSerializer writes it: magic byte, 4-byte big-endian id, JSON."""
    return b"\x00" + schema_id.to_bytes(4, "big") + value


def test_events_in_the_registrys_wire_format_end_in_the_state(
    settings: Settings, workers: WorkerFactory, shared_data: Path
) -> None:
    """The registered id is accepted, another one is a dead letter that says so."""
    state = StandInRegistry()
    (events_contract,) = [c for c in contracts(settings) if c.topic == settings.events_topic]
    state.versions[events_contract.subject] = [events_contract.schema_text()]  # id 100
    events = list(load_events("taobao-slice", shared_data))[:2_000]
    good = [e for i, e in enumerate(events) if i % 100]
    with serving(state) as url:
        settings = settings.model_copy(
            update={"schema_registry_url": url, "producer_partitioner": Partitioner.CRC32}
        )
        workers.start(settings)
    assert settings.bootstrap_servers
    messages = [
        (key, framed(value, 100 if i % 100 else 999))
        for i, (key, value) in enumerate(encode_event(e) for e in events)
    ]
    produce_with_confluent_kafka(settings.bootstrap_servers, settings.events_topic, messages)
    wait_caught_up(
        settings.bootstrap_servers, settings.app_id, settings.events_topic, timeout_seconds=180
    )
    letters = list(
        read_topic(settings.bootstrap_servers, settings.dead_letter_topic, timeout_seconds=30)
    )
    assert len(letters) == len(events) - len(good) == 20
    for letter in letters:
        headers = dict(letter.headers)
        assert headers["dlq.reason"] == b"invalid_json"
        assert b"schema id 999 is not one of" in headers["dlq.detail"]
    changelog = read_topic(
        settings.bootstrap_servers, changelog_topic(settings.app_id), timeout_seconds=30
    )
    latest = {r.key: r.value for r in changelog if r.key is not None}
    totals = {k.decode(): decode_state(v).events_total for k, v in latest.items() if v}
    assert totals == dict(Counter(e.user_id for e in good))
