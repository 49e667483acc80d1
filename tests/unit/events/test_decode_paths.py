"""The msgspec fast path and the strict decoder give the same result for every message.

`decode_event` takes msgspec's answer only where it is sure (`fast_decode.decode_common`), else
the strict decoder's (`decode_event_strict`): run both over the hostile corpus, the malformed
cases of `test_decode.py`, real events, and every one-byte change of a few valid messages.
"""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

import pytest

from stream_app.data.sources import load_events
from stream_app.events.decode import (
    DecodeLimits,
    Rejected,
    decode_event,
    decode_event_strict,
)
from stream_app.events.fast_decode import decode_common
from stream_app.events.schema import Event
from tests.hostile_corpus import load_corpus
from tests.unit.events.test_decode import BAD_INPUT, HOSTILE_INPUT

NOW = 1_700_100_000.0
LIMITS = (
    DecodeLimits(now_seconds=NOW),
    DecodeLimits(now_seconds=NOW, max_event_bytes=1024),
    DecodeLimits(now_seconds=4e9, max_future_skew_seconds=4e9, min_event_epoch_seconds=0),
)
REAL_EVENTS = 2_000
#: Valid messages whose every one-byte change is decoded both ways.
BASES = (
    b'{"user_id":"u1","ts":1700000000,"type":"view","item_id":"i9"}',
    b'{"user_id": 42, "ts": 1700000000.25, "type": "cart", "item_id": 7, "category_id": "c",'
    b' "price": 3.5, "event_id": null}',
    '{"user_id":"\u00e9","ts":1.7e9,"type":"fav","item_id":"x","price":0}'.encode(),
)
#: Bytes tried at every position: JSON's punctuation and escapes, digits, quotes, controls,
#: whitespace a parser may or may not allow, and the first bytes of multi-byte UTF-8.
PROBES = b'{}[],:"\\ \t\n\r\x00\x01\x0b\x0c\x7f0159.eE+-_uNnIfta\x80\xc3\xa9\xed\xef\xff'


def outcome(result: Event | Rejected) -> tuple[object, ...]:
    """Every field, floats by repr (-0.0 is not 0.0), or the reason and detail of a refusal."""
    if isinstance(result, Rejected):
        return ("rejected", result.reason, result.detail)
    return (
        "event",
        result.user_id,
        repr(result.ts_seconds),
        result.ts.tzinfo,
        result.type,
        result.item_id,
        result.category_id,
        repr(result.price),
        result.event_id,
    )


def assert_same(key: bytes | None, value: bytes | None) -> None:
    for limits in LIMITS:
        assert outcome(decode_event(key, value, limits)) == outcome(
            decode_event_strict(key, value, limits)
        ), (key, value, limits)


def test_the_hostile_corpus_decodes_alike() -> None:
    corpus = load_corpus()
    for message in corpus:
        assert_same(message.key, message.value)
    taken = [decode_common(m.key, m.value, LIMITS[0]) for m in corpus]
    assert sum(event is not None for event in taken) >= 15


@pytest.mark.parametrize(("key", "value", "reason"), BAD_INPUT)
def test_bad_input_decodes_alike(key: bytes | None, value: bytes | None, reason: str) -> None:
    assert_same(key, value)


@pytest.mark.parametrize(("value", "reason"), HOSTILE_INPUT)
def test_hostile_input_decodes_alike(value: bytes, reason: str) -> None:
    assert_same(b"u1", value)


def test_real_events_take_the_fast_path(shared_data: Path) -> None:
    events = list(islice(load_events("taobao-slice", shared_data), REAL_EVENTS))
    messages = [(e.user_id.encode(), json.dumps(e.to_json_dict()).encode()) for e in events]
    limits = LIMITS[2]
    for (key, value), event in zip(messages, events, strict=True):
        fast = decode_common(key, value, limits)
        assert fast is not None, value
        assert outcome(fast) == outcome(decode_event_strict(key, value, limits)) == outcome(event)


@pytest.mark.parametrize("base", BASES)
def test_every_one_byte_change_decodes_alike(base: bytes) -> None:
    key = str(json.loads(base)["user_id"]).encode()
    assert decode_common(key, base, LIMITS[0]) is not None
    for at in range(len(base) + 1):
        assert_same(key, base[:at] + base[at + 1 :])
        for probe in PROBES:
            assert_same(key, base[:at] + bytes([probe]) + base[at + 1 :])
            assert_same(key, base[:at] + bytes([probe]) + base[at:])


@pytest.mark.parametrize(
    "value",
    [
        b'{"user_id":"u1","ts":1700000000,"type":"view","item_id":"i","item_id":"i"}',
        b'{"user_id":"u1","ts":1700000000,"type":"view","item_id":"i","ts":1700000001}',
        b'{"user_id":"u1","ts":1700000000,"type":"view","item_id":"i","price":1,"price":null}',
        b'{"user_id":"u1","ts":1700000000,"type":"view","item_id":"i","user\\u005fid":"u1"}',
        b'{"user_id":"u1","ts":1700000000,"type":"view","item_id":"i","extra":{"a":1,"a":2}}',
    ],
)
def test_repeated_names_are_left_to_the_strict_decoder(value: bytes) -> None:
    assert decode_common(b"u1", value, LIMITS[0]) is None
    result = decode_event(b"u1", value, LIMITS[0])
    assert isinstance(result, Rejected) and "repeated name" in result.detail
