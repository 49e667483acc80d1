"""The Confluent Schema Registry wire format around an event's JSON (pure).

Serializers that use a schema registry (Confluent's `JSONSchemaSerializer`, and the clients
that follow it) frame each value as magic byte 0, the schema id (4 bytes, big-endian), then the
JSON document. With a registry configured the worker strips the frame, checks the id when it
knows the subject's ids, and decodes the JSON as strictly as an unframed value; without one,
a framed value is refused with a detail that names the format (a JSON document never starts
with a zero byte, so the two cannot be confused).
"""

from __future__ import annotations

MAGIC_BYTE = b"\x00"
HEADER_BYTES = 5


class FramingError(ValueError):
    """A framed value the worker does not accept; the message is the dead letter's detail."""


def is_framed(value: bytes) -> bool:
    """True when `value` starts as the wire format does (magic byte 0)."""
    return value[:1] == MAGIC_BYTE


def unframe(value: bytes, schema_ids: frozenset[int] | None) -> bytes:
    """The JSON document of a framed `value`.

    `schema_ids`: None refuses the format (no registry configured); a set accepts the ids in
    it, an empty set any id. Raises `FramingError` with the reason in words.
    """
    if len(value) < HEADER_BYTES:
        raise FramingError(
            f"Confluent Schema Registry wire format: {len(value)} bytes, shorter than its"
            f" {HEADER_BYTES}-byte header"
        )
    schema_id = int.from_bytes(value[1:HEADER_BYTES], "big")
    if schema_ids is None:
        raise FramingError(
            f"Confluent Schema Registry wire format (magic byte 0, schema id {schema_id}):"
            " accepted only with a registry configured (DECAY_SCHEMA_REGISTRY_URL)"
        )
    if schema_ids and schema_id not in schema_ids:
        known = ", ".join(str(i) for i in sorted(schema_ids))
        raise FramingError(
            f"Confluent Schema Registry wire format: schema id {schema_id} is not one of the"
            f" events subject's ({known})"
        )
    return value[HEADER_BYTES:]
