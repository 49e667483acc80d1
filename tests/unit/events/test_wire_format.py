"""The schema registry's wire format (magic byte 0, schema id, JSON): unframed and decoded as
strictly as plain JSON with a registry configured, a clear dead letter without one."""

from __future__ import annotations

import json
from dataclasses import replace

from stream_app.events.decode import DecodeLimits, Rejected, RejectReason, decode_event
from stream_app.events.schema import Event
from stream_app.runtime.assembly import decode_limits
from stream_app.settings import Settings
from tests.hostile_corpus import load_corpus

NOW = 1_700_100_000.0
PLAIN = DecodeLimits(now_seconds=NOW)
ANY_ID = replace(PLAIN, schema_ids=frozenset())
VALUE = json.dumps({"user_id": "u1", "ts": NOW - 60, "type": "view", "item_id": "i1"}).encode()


def framed(value: bytes, schema_id: int = 7) -> bytes:
    """As Confluent's JSONSchemaSerializer writes it: magic byte, 4-byte big-endian id, JSON."""
    return b"\x00" + schema_id.to_bytes(4, "big") + value


def test_with_a_registry_a_framed_event_is_the_plain_event() -> None:
    plain = decode_event(b"u1", VALUE, PLAIN)
    assert isinstance(plain, Event)
    assert decode_event(b"u1", framed(VALUE), ANY_ID) == plain
    assert decode_event(b"u1", framed(VALUE, 7), replace(PLAIN, schema_ids={3, 7})) == plain


def test_without_a_registry_a_framed_event_is_a_dead_letter_naming_the_format() -> None:
    refused = decode_event(b"u1", framed(VALUE, 42), PLAIN)
    assert isinstance(refused, Rejected) and refused.reason is RejectReason.INVALID_JSON
    assert "Schema Registry wire format" in refused.detail and "schema id 42" in refused.detail
    assert "DECAY_SCHEMA_REGISTRY_URL" in refused.detail


def test_an_unknown_schema_id_or_a_cut_header_is_refused() -> None:
    other = decode_event(b"u1", framed(VALUE, 8), replace(PLAIN, schema_ids=frozenset({7})))
    assert isinstance(other, Rejected) and "schema id 8 is not one of" in other.detail
    cut = decode_event(b"u1", b"\x00\x00\x07", ANY_ID)
    assert isinstance(cut, Rejected) and "shorter than its 5-byte header" in cut.detail


def test_the_json_inside_the_frame_is_decoded_as_strictly_as_plain_json() -> None:
    """Every hostile message, framed, gets the plain message's event or refusal."""
    messages = [m for m in load_corpus() if m.value is not None]
    assert len(messages) >= 50
    for message in messages:
        assert message.value is not None
        plain = decode_event(message.key, message.value, PLAIN)
        assert decode_event(message.key, framed(message.value), ANY_ID) == plain, message.case


def test_the_worker_accepts_the_format_only_with_a_registry_configured() -> None:
    assert decode_limits(Settings()).schema_ids is None
    with_registry = Settings(schema_registry_url="http://registry:8081")
    assert decode_limits(with_registry).schema_ids == frozenset()  # no id known: any id
    assert decode_limits(with_registry, frozenset({5})).schema_ids == {5}
    assert decode_limits(Settings(), frozenset({5})).schema_ids is None
