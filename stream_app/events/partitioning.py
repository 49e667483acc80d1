"""Which partition a user's key belongs to: Kafka's default murmur2 partitioner (pure)."""

from __future__ import annotations

import struct

_SEED = 0x9747B28C
_MIX = 0x5BD1E995
_MASK = 0xFFFFFFFF
_WORDS = struct.Struct("<I")


def partition_for_key(key: bytes, partitions: int) -> int:
    """Partition the Java/kafka-python/aiokafka default partitioner picks for `key`."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 of `data` (`org.apache.kafka.common.utils.Utils.murmur2`), unsigned.

    kafka-python's function, with the 4-byte words read by `struct` and no redundant masks: it
    runs once per event to check the event's partition.
    """
    length = len(data)
    h = _SEED ^ length
    whole = length & ~3
    for (k,) in _WORDS.iter_unpack(data[:whole]):
        k = (k * _MIX) & _MASK
        k = ((k ^ (k >> 24)) * _MIX) & _MASK
        h = ((h * _MIX) & _MASK) ^ k
    if length & 3:
        h = ((h ^ int.from_bytes(data[whole:], "little")) * _MIX) & _MASK
    h = ((h ^ (h >> 13)) * _MIX) & _MASK
    return h ^ (h >> 15)
