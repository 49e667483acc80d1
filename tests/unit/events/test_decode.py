import json

import pytest

from stream_app.events.decode import DecodeLimits, Rejected, RejectReason, decode_event
from stream_app.events.schema import Event, EventType

NOW = 1_700_000_000.0
LIMITS = DecodeLimits(now_seconds=NOW, max_event_bytes=1024)


def encode(payload: object) -> bytes:
    return json.dumps(payload).encode()


def good(**overrides: object) -> dict[str, object]:
    event: dict[str, object] = {"user_id": "u1", "ts": NOW - 60, "type": "cart", "item_id": "i9"}
    event.update(overrides)
    return event


def test_valid_event_decodes_to_aware_utc() -> None:
    event = decode_event(b"u1", encode(good(category_id=12, price=3.5, event_id="e1")), LIMITS)
    assert isinstance(event, Event)
    assert event.type is EventType.CART
    assert event.ts.tzinfo is not None and event.ts_seconds == NOW - 60
    assert event.category_id == "12" and event.price == 3.5 and event.event_id == "e1"


def test_iso_timestamp_with_offset_is_accepted() -> None:
    event = decode_event(b"u1", encode(good(ts="2023-11-14T22:13:20+00:00")), LIMITS)
    assert isinstance(event, Event) and event.ts_seconds == NOW


def test_integer_ids_are_normalised_to_strings() -> None:
    event = decode_event(b"42", encode(good(user_id=42, item_id=7)), LIMITS)
    assert isinstance(event, Event) and (event.user_id, event.item_id) == ("42", "7")


def test_unknown_fields_are_ignored() -> None:
    assert isinstance(decode_event(b"u1", encode(good(extra={"a": 1})), LIMITS), Event)


#: (key, value, reason) of messages every decoder refuses.
BAD_INPUT: list[tuple[bytes | None, bytes | None, RejectReason]] = [
    (b"u1", b"x" * 2048, RejectReason.PAYLOAD_TOO_LARGE),
    (b"u1", b"\xff\xfe{}", RejectReason.NOT_UTF8),
    (b"u1", b"{nope", RejectReason.INVALID_JSON),
    (b"u1", None, RejectReason.INVALID_JSON),
    (
        b"u1",
        b'{"user_id":"u1","ts":NaN,"type":"view","item_id":"i"}',
        RejectReason.INVALID_JSON,
    ),
    (b"u1", b"[1, 2]", RejectReason.NOT_AN_OBJECT),
    (
        b"u1",
        encode({k: v for k, v in good().items() if k != "user_id"}),
        RejectReason.MISSING_FIELD,
    ),
    (b"u1", encode({k: v for k, v in good().items() if k != "ts"}), RejectReason.MISSING_FIELD),
    (
        b"u1",
        encode({k: v for k, v in good().items() if k != "type"}),
        RejectReason.MISSING_FIELD,
    ),
    (
        b"u1",
        encode({k: v for k, v in good().items() if k != "item_id"}),
        RejectReason.MISSING_FIELD,
    ),
    (b"u1", encode(good(user_id=["u1"])), RejectReason.WRONG_TYPE),
    (b"u1", encode(good(user_id=True)), RejectReason.WRONG_TYPE),
    (b"u1", encode(good(ts={"s": 1})), RejectReason.WRONG_TYPE),
    (b"u1", encode(good(ts=True)), RejectReason.WRONG_TYPE),
    (b"u1", encode(good(type=3)), RejectReason.WRONG_TYPE),
    (b"u1", encode(good(price="3.5")), RejectReason.WRONG_TYPE),
    (b"u1", encode(good(type="teleport")), RejectReason.INVALID_VALUE),
    (b"u1", encode(good(price=-1)), RejectReason.INVALID_VALUE),
    (b"u1", encode(good(ts="2023-11-14 22:13:20")), RejectReason.INVALID_VALUE),
    (b"u1", encode(good(ts="yesterday")), RejectReason.INVALID_VALUE),
    (b"", encode(good(user_id="")), RejectReason.INVALID_VALUE),
    (b"u\x01", encode(good(user_id="u\x01")), RejectReason.INVALID_VALUE),
    (b"u" * 300, encode(good(user_id="u" * 300)), RejectReason.INVALID_VALUE),
    (b"u1", encode(good(ts=-5)), RejectReason.TS_OUT_OF_RANGE),
    (b"u1", encode(good(ts=NOW + 10 * 86_400)), RejectReason.TS_OUT_OF_RANGE),
    (b"u1", encode(good(ts=NOW * 1000)), RejectReason.TS_OUT_OF_RANGE),
    (b"u1", encode(good(ts=1e400)), RejectReason.INVALID_JSON),
    (None, encode(good()), RejectReason.KEY_MISMATCH),
    (b"u2", encode(good()), RejectReason.KEY_MISMATCH),
]


@pytest.mark.parametrize(("key", "value", "reason"), BAD_INPUT)
def test_bad_input_is_rejected_with_its_reason(
    key: bytes | None, value: bytes | None, reason: RejectReason
) -> None:
    result = decode_event(key, value, LIMITS)
    assert isinstance(result, Rejected), result
    assert result.reason is reason
    assert result.detail


def test_milliseconds_get_a_hint() -> None:
    result = decode_event(b"u1", encode(good(ts=NOW * 1000)), LIMITS)
    assert isinstance(result, Rejected) and "milliseconds" in result.detail


#: Hostile input (value, reason): each of these once crashed the decoder or let a bad event
#: through.
HOSTILE_INPUT: list[tuple[bytes, RejectReason]] = [
    (
        b'{"user_id":"u1","ts":1699999000,"type":"view","item_id":"i","x":'
        + b"[" * 30_000
        + b"]" * 30_000
        + b"}",
        RejectReason.INVALID_JSON,
    ),
    (
        b'{"user_id":"u1","ts":1' + b"0" * 400 + b',"type":"view","item_id":"i"}',
        RejectReason.TS_OUT_OF_RANGE,
    ),
    (
        b'{"user_id":"u1","ts":1699999000,"type":"view","item_id":"i","price":1'
        + b"0" * 400
        + b"}",
        RejectReason.INVALID_VALUE,
    ),
    (
        b'{"user_id":"u1","ts":1699999000,"type":"view","item_id":"i","price":1e309}',
        RejectReason.INVALID_VALUE,
    ),
    (
        b'{"user_id":"u2","ts":1699999000,"type":"view","item_id":"i","user_id":"u1"}',
        RejectReason.INVALID_JSON,
    ),
    (
        b'{"user_id":"u1","ts":1699999000,"type":"view","item_id":"\\ud800"}',
        RejectReason.INVALID_VALUE,
    ),
    (
        b'{"user_id":"u1","ts":1699999000,"type":"view","item_id":"i","category_id":"\\udfff"}',
        RejectReason.INVALID_VALUE,
    ),
    (b"\xef\xbb\xbf" + encode(good()), RejectReason.INVALID_JSON),
    (b"", RejectReason.INVALID_JSON),
    (encode(good(item_id="a\x7fb")), RejectReason.INVALID_VALUE),
    (encode(good(event_id="a\u0085b")), RejectReason.INVALID_VALUE),
    (encode(good(price=2e12)), RejectReason.INVALID_VALUE),
    (encode(good(ts=2**64)), RejectReason.TS_OUT_OF_RANGE),
]


@pytest.mark.parametrize(("value", "reason"), HOSTILE_INPUT)
def test_hostile_input_is_rejected_not_raised(value: bytes, reason: RejectReason) -> None:
    result = decode_event(b"u1", value, DecodeLimits(now_seconds=NOW))
    assert isinstance(result, Rejected), result
    assert result.reason is reason
    assert result.detail


def test_lone_surrogate_user_id_is_refused_before_the_key_check() -> None:
    value = b'{"user_id":"\\udc00","ts":1699999000,"type":"view","item_id":"i"}'
    result = decode_event(b"\xed\xb0\x80", value, LIMITS)
    assert isinstance(result, Rejected) and result.reason is RejectReason.INVALID_VALUE


def test_repeated_names_are_refused_even_when_equal() -> None:
    value = b'{"user_id":"u1","ts":1699999000,"type":"view","item_id":"i","item_id":"i"}'
    result = decode_event(b"u1", value, LIMITS)
    assert isinstance(result, Rejected) and "repeated name 'item_id'" in result.detail


def test_type_in_another_case_gets_a_hint() -> None:
    result = decode_event(b"u1", encode(good(type="VIEW")), LIMITS)
    assert isinstance(result, Rejected) and result.reason is RejectReason.INVALID_VALUE
    assert "lowercase" in result.detail


@pytest.mark.parametrize(
    "user_id",
    [
        "u" * 256,  # at the limit
        "\U0001f600" * 256,  # 256 astral characters = 1 KiB of UTF-8
        "e\u0301",  # NFD: a different user than the NFC form
        "\u00e9",
        "\u05e9\u05dc\u05d5\u05dd",  # right-to-left
        "a\u200bb",  # zero-width space: ids are opaque, compared byte for byte
        "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # emoji joined by ZWJ
        " padded ",
    ],
)
def test_unusual_but_valid_user_ids_are_kept_byte_exact(user_id: str) -> None:
    value = encode(good(user_id=user_id))
    event = decode_event(user_id.encode(), value, DecodeLimits(now_seconds=NOW))
    assert isinstance(event, Event) and event.user_id == user_id


def test_price_at_the_cap_and_huge_integer_ids_are_accepted() -> None:
    event = decode_event(b"u1", encode(good(price=10**12, item_id=2**70)), LIMITS)
    assert isinstance(event, Event) and event.price == 1e12 and event.item_id == str(2**70)
