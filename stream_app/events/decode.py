"""Strict decoding of raw event bytes: `decode_event(...) -> Event | Rejected` (pure).

A bad message is data, not an exception: the caller routes a `Rejected` to the dead-letter topic
with the original bytes. The common case is decoded by msgspec (`fast_decode.py`); whatever that
is not sure of, every refusal included, is decided here by the strict decoder
(`decode_event_strict`), so both give the same result for every message.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from stream_app.events.decode_rules import (
    EVENT_TYPES_BY_NAME,
    FORBIDDEN_ID_CHARS,
    MAX_ID_CHARS,
    MAX_PRICE,
    DecodeLimits,
)
from stream_app.events.fast_decode import decode_common
from stream_app.events.schema import Event, EventType, utc_from_seconds
from stream_app.events.wire_format import FramingError, is_framed, unframe

__all__ = [
    "MAX_ID_CHARS",
    "MAX_PRICE",
    "DecodeLimits",
    "RejectReason",
    "Rejected",
    "decode_event",
    "decode_event_strict",
]


class RejectReason(StrEnum):
    """Why an event was refused; the `reason` header on the dead-letter topic."""

    PAYLOAD_TOO_LARGE = "payload_too_large"
    NOT_UTF8 = "not_utf8"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    INVALID_VALUE = "invalid_value"
    TS_OUT_OF_RANGE = "ts_out_of_range"
    KEY_MISMATCH = "key_mismatch"
    WRONG_PARTITION = "wrong_partition"


@dataclass(frozen=True, slots=True)
class Rejected:
    """A refused message: the reason (a small fixed set) and a human-readable detail."""

    reason: RejectReason
    detail: str


class _InvalidError(Exception):
    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.rejected = Rejected(reason, detail)


def decode_event(key: bytes | None, value: bytes | None, limits: DecodeLimits) -> Event | Rejected:
    """Decode and validate one message of the events topic (plain JSON, or JSON in the schema
    registry's wire format where `limits.schema_ids` allows it)."""
    if value is not None and is_framed(value):
        inner = _unframed(value, limits)
        if isinstance(inner, Rejected):
            return inner
        value = inner
    event = decode_common(key, value, limits)
    return event if event is not None else _decode_json_strict(key, value, limits)


def decode_event_strict(
    key: bytes | None, value: bytes | None, limits: DecodeLimits
) -> Event | Rejected:
    """`decode_event` by the standard library's JSON parser alone: every rule, every reason."""
    if value is not None and is_framed(value):
        inner = _unframed(value, limits)
        if isinstance(inner, Rejected):
            return inner
        value = inner
    return _decode_json_strict(key, value, limits)


def _unframed(value: bytes, limits: DecodeLimits) -> bytes | Rejected:
    """The JSON inside the schema registry's wire format, or why it is refused."""
    try:
        return unframe(value, limits.schema_ids)
    except FramingError as exc:
        return Rejected(RejectReason.INVALID_JSON, str(exc))


def _decode_json_strict(
    key: bytes | None, value: bytes | None, limits: DecodeLimits
) -> Event | Rejected:
    """The JSON document (unframed) by the standard library's parser: every rule, every reason."""
    try:
        fields = _parse_object(value, limits.max_event_bytes)
        event = _event_from_fields(fields, limits)
        _check_key(key, event.user_id)
    except _InvalidError as invalid:
        return invalid.rejected
    return event


def _parse_object(value: bytes | None, max_bytes: int) -> dict[str, Any]:
    if value is None:
        raise _InvalidError(RejectReason.INVALID_JSON, "empty message (tombstone)")
    if len(value) > max_bytes:
        raise _InvalidError(RejectReason.PAYLOAD_TOO_LARGE, f"{len(value)} bytes > {max_bytes}")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _InvalidError(RejectReason.NOT_UTF8, f"byte {exc.start} is not UTF-8") from None
    try:
        parsed = json.loads(
            text, parse_constant=_reject_constant, object_pairs_hook=_object_without_repeats
        )
    except (json.JSONDecodeError, ValueError) as exc:
        raise _InvalidError(RejectReason.INVALID_JSON, str(exc)[:200]) from None
    except RecursionError:
        raise _InvalidError(RejectReason.INVALID_JSON, "nested too deeply") from None
    if not isinstance(parsed, dict):
        raise _InvalidError(RejectReason.NOT_AN_OBJECT, f"top level is {type(parsed).__name__}")
    return parsed


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _object_without_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object; a repeated name is refused (parsers disagree on which one wins)."""
    fields = dict(pairs)
    if len(fields) == len(pairs):
        return fields
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            raise ValueError(f"repeated name {name[:32]!r} in an object")
        seen.add(name)
    raise AssertionError("unreachable")


def _as_float(raw: int | float) -> float:
    """A JSON number as a float; an integer too large for a float becomes infinity."""
    try:
        return float(raw)
    except OverflowError:
        return math.inf if raw > 0 else -math.inf


def _event_from_fields(fields: dict[str, Any], limits: DecodeLimits) -> Event:
    return Event(
        user_id=_identifier(fields, "user_id", required=True) or "",
        ts=_timestamp(fields, limits),
        type=_event_type(fields),
        item_id=_identifier(fields, "item_id", required=True) or "",
        category_id=_identifier(fields, "category_id", required=False),
        price=_price(fields),
        event_id=_identifier(fields, "event_id", required=False),
    )


def _identifier(fields: dict[str, Any], name: str, *, required: bool) -> str | None:
    """A string id; integers are accepted and normalised to their decimal string."""
    raw = fields.get(name)
    if raw is None:
        if required:
            raise _InvalidError(RejectReason.MISSING_FIELD, f"{name} is required")
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise _InvalidError(
            RejectReason.WRONG_TYPE, f"{name} must be a string, got {type(raw).__name__}"
        )
    text = str(raw)
    if not text or not text.strip():
        raise _InvalidError(RejectReason.INVALID_VALUE, f"{name} is empty")
    if len(text) > MAX_ID_CHARS:
        raise _InvalidError(RejectReason.INVALID_VALUE, f"{name} longer than {MAX_ID_CHARS} chars")
    if FORBIDDEN_ID_CHARS.search(text):
        raise _InvalidError(
            RejectReason.INVALID_VALUE, f"{name} contains control characters or lone surrogates"
        )
    return text


def _timestamp(fields: dict[str, Any], limits: DecodeLimits) -> datetime:
    raw = fields.get("ts")
    if raw is None:
        raise _InvalidError(RejectReason.MISSING_FIELD, "ts is required")
    if isinstance(raw, bool):
        raise _InvalidError(
            RejectReason.WRONG_TYPE, "ts must be Unix seconds or ISO-8601, got bool"
        )
    if isinstance(raw, int | float):
        seconds = _as_float(raw)
    elif isinstance(raw, str):
        seconds = _iso_seconds(raw)
    else:
        raise _InvalidError(
            RejectReason.WRONG_TYPE, f"ts must be a number or string, got {type(raw).__name__}"
        )
    if not math.isfinite(seconds):
        raise _InvalidError(RejectReason.TS_OUT_OF_RANGE, "ts is not finite")
    if seconds < limits.min_event_epoch_seconds:
        raise _InvalidError(
            RejectReason.TS_OUT_OF_RANGE, f"ts {seconds:.0f} is before the earliest allowed"
        )
    if seconds > limits.now_seconds + limits.max_future_skew_seconds:
        hint = " (milliseconds? ts is in seconds)" if seconds > 1e11 else ""
        raise _InvalidError(
            RejectReason.TS_OUT_OF_RANGE, f"ts {seconds:.0f} is in the future{hint}"
        )
    return utc_from_seconds(seconds)


def _iso_seconds(text: str) -> float:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise _InvalidError(RejectReason.INVALID_VALUE, "ts is not ISO-8601") from None
    if parsed.tzinfo is None:
        raise _InvalidError(RejectReason.INVALID_VALUE, "ts has no timezone offset")
    return parsed.timestamp()


def _event_type(fields: dict[str, Any]) -> EventType:
    raw = fields.get("type")
    if raw is None:
        raise _InvalidError(RejectReason.MISSING_FIELD, "type is required")
    if not isinstance(raw, str):
        raise _InvalidError(
            RejectReason.WRONG_TYPE, f"type must be a string, got {type(raw).__name__}"
        )
    event_type = EVENT_TYPES_BY_NAME.get(raw)
    if event_type is None:
        hint = " (types are lowercase)" if raw.lower() in EVENT_TYPES_BY_NAME else ""
        raise _InvalidError(RejectReason.INVALID_VALUE, f"unknown type {raw[:32]!r}{hint}")
    return event_type


def _price(fields: dict[str, Any]) -> float | None:
    raw = fields.get("price")
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise _InvalidError(
            RejectReason.WRONG_TYPE, f"price must be a number, got {type(raw).__name__}"
        )
    price = _as_float(raw)
    if not 0 <= price <= MAX_PRICE:
        raise _InvalidError(RejectReason.INVALID_VALUE, f"price must be within 0..{MAX_PRICE:g}")
    return price


def _check_key(key: bytes | None, user_id: str) -> None:
    """Events must be keyed by user id, or a user's state would split across partitions."""
    if key is None:
        raise _InvalidError(RejectReason.KEY_MISMATCH, "message has no key; key events by user_id")
    if key != user_id.encode("utf-8"):
        raise _InvalidError(RejectReason.KEY_MISMATCH, "message key differs from user_id")
