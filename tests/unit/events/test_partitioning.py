"""Our partitioners equal the clients': murmur2 as kafka-python's (the Java client's) for every
key length, CRC32 as librdkafka's default (confluent-kafka) on the partitions it delivers to."""

from __future__ import annotations

import random

from confluent_kafka import Producer
from kafka.partitioner.default import murmur2 as kafka_murmur2

from stream_app.events.partitioning import Partitioner, murmur2, partition_for_key


def test_murmur2_equals_kafka_pythons_for_keys_of_every_length() -> None:
    rng = random.Random(2)
    for length in range(300):
        for _ in range(20):
            key = rng.randbytes(length)
            assert murmur2(key) == kafka_murmur2(key), key


#: The Java client's own test vectors (`UtilsTest.testMurmur2`), as signed 32-bit ints.
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


def test_murmur2_gives_the_java_clients_values() -> None:
    for key, signed in JAVA_MURMUR2.items():
        assert murmur2(key) == signed & 0xFFFFFFFF, key
        assert partition_for_key(key, 8) == (signed & 0x7FFFFFFF) % 8


def delivered_partitions(keys: list[bytes]) -> tuple[dict[bytes, int], int]:
    """Each key's partition as confluent-kafka, default configuration, delivers it.

    librdkafka's own in-process cluster (`test.mock.num.brokers`) stands in for a broker: the
    partition is chosen in the client, by its default partitioner, before any broker sees it.
    """
    producer = Producer({"test.mock.num.brokers": 1, "log_level": 3})
    delivered: dict[bytes, int] = {}

    def on_delivery(err: object, message: object) -> None:
        assert err is None, err
        delivered[message.key()] = message.partition()  # type: ignore[attr-defined]

    for key in keys:
        producer.produce("events", key=key, value=b"{}", on_delivery=on_delivery)
    assert producer.flush(30) == 0
    partitions = len(producer.list_topics("events", timeout=10).topics["events"].partitions)
    return delivered, partitions


def test_crc32_gives_the_partitions_confluent_kafka_delivers_to() -> None:
    keys = [f"user-{i}".encode() for i in range(300)] + [b"a", "ünï".encode(), b"x" * 300]
    delivered, partitions = delivered_partitions(keys)
    assert partitions > 1 and len(delivered) == len(keys)
    for key in keys:
        assert delivered[key] == partition_for_key(key, partitions, Partitioner.CRC32), key
    murmur2_agrees = sum(delivered[key] == partition_for_key(key, partitions) for key in keys)
    assert murmur2_agrees < len(keys) / 2  # the two partitioners differ: the setting matters
