"""Our murmur2 partitioner equals kafka-python's (the Java client's) for every key length."""

from __future__ import annotations

import random

from kafka.partitioner.default import murmur2 as kafka_murmur2

from stream_app.events.partitioning import murmur2, partition_for_key


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
