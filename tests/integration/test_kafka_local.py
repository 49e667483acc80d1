"""The local broker itself: the version we pin, clean stop, data kept across a restart."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from stream_app.kafka.clients import ensure_topic, new_producer, produce_all
from stream_app.kafka.local import LocalKafka
from stream_app.kafka.local_config import kafka_version
from stream_app.kafka.reading import read_topic

pytestmark = pytest.mark.integration


def test_broker_is_kafka_3_9_and_speaks_to_kafka_python(kafka: LocalKafka) -> None:
    assert kafka_version().startswith("3.9.")
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    try:
        assert [b["port"] for b in admin.describe_cluster()["brokers"]] == [kafka.port]
    finally:
        admin.close()


def test_restart_keeps_topics_and_messages(tmp_path: Path) -> None:
    broker = LocalKafka(data_dir=tmp_path / "kafka")
    broker.start()
    try:
        ensure_topic(broker.bootstrap_servers, "kept", 2)
        producer = new_producer(broker.bootstrap_servers)
        produce_all(producer, "kept", [(b"k%d" % i, b"v%d" % i) for i in range(50)])
        producer.close()
        process = broker.process
        broker.restart()
        assert process is not None and process.returncode in (
            0,
            143,
        )  # stopped by SIGTERM, not killed
        values = sorted(r.value or b"" for r in read_topic(broker.bootstrap_servers, "kept"))
        assert values == sorted(b"v%d" % i for i in range(50))
    finally:
        broker.stop()
    assert broker.process is None
