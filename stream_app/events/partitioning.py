"""Which partition a user's key belongs to: Kafka's default murmur2 partitioner (pure)."""

from __future__ import annotations

from kafka.partitioner.default import murmur2


def partition_for_key(key: bytes, partitions: int) -> int:
    """Partition the Java/kafka-python/aiokafka default partitioner picks for `key`."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions
