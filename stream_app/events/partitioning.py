"""Which partition a user's key belongs to, by the producers' partitioner (pure).

Two keyed partitioners are in use among Kafka clients: murmur2 (the Java client, kafka-python,
aiokafka, librdkafka's `murmur2_random`) and CRC32 (librdkafka's default `consistent_random`,
so confluent-kafka, Go, .NET, Node and kcat unless told otherwise). The worker is told which
one its producers use (`DECAY_PRODUCER_PARTITIONER`); every partition of a key it computes
(the wrong-partition check, the state's changelog, ticks, the schedule's rebuild) comes from
`partition_for_key`, so they all agree with the events' partition.
"""

from __future__ import annotations

import struct
import zlib
from enum import StrEnum

_SEED = 0x9747B28C
_MIX = 0x5BD1E995
_MASK = 0xFFFFFFFF
_WORDS = struct.Struct("<I")


class Partitioner(StrEnum):
    """The keyed partitioner the producers of the events topic use."""

    MURMUR2 = "murmur2"
    CRC32 = "crc32"


def partition_for_key(
    key: bytes, partitions: int, partitioner: Partitioner = Partitioner.MURMUR2
) -> int:
    """Partition the producers' `partitioner` picks for a non-empty `key`."""
    if partitioner is Partitioner.CRC32:
        return crc32_partition(key, partitions)
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def crc32_partition(key: bytes, partitions: int) -> int:
    """librdkafka's `consistent`/`consistent_random` partition: unsigned CRC32 modulo the count.

    (`rd_crc32` is zlib's CRC-32; an empty key is partitioned at random by `consistent_random`,
    and is refused by the decoder anyway.)
    """
    return zlib.crc32(key) % partitions


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
