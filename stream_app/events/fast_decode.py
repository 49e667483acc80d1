"""The common case of decoding, in msgspec: an `Event`, or None where it is not sure.

It accepts only what the strict decoder (`decode.py`) accepts, and gives the same `Event`: a flat
object of the known fields, no escape sequence anywhere, no repeated name, numeric `ts`, every
value within the rules. Everything else (every refusal included) returns None, and the strict
decoder decides, so dead-letter reasons and details have one source.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import msgspec

from stream_app.events.decode_rules import (
    EVENT_TYPES_BY_NAME,
    FORBIDDEN_ID_CHARS,
    MAX_ID_CHARS,
    MAX_PRICE,
    DecodeLimits,
)
from stream_app.events.schema import Event, EventType, utc_from_seconds

#: An integer id this large has more digits than an id may have (and `str()` of it is slow).
_ID_INT_BOUND = 10**MAX_ID_CHARS
_V = TypeVar("_V")


class _WireEvent(msgspec.Struct, forbid_unknown_fields=True):
    """The events-topic JSON object; UNSET: the name is absent, None: it is `null`."""

    user_id: str | int | msgspec.UnsetType | None = msgspec.UNSET
    ts: int | float | str | msgspec.UnsetType | None = msgspec.UNSET
    type: str | msgspec.UnsetType | None = msgspec.UNSET
    item_id: str | int | msgspec.UnsetType | None = msgspec.UNSET
    category_id: str | int | msgspec.UnsetType | None = msgspec.UNSET
    price: int | float | msgspec.UnsetType | None = msgspec.UNSET
    event_id: str | int | msgspec.UnsetType | None = msgspec.UNSET


_DECODER = msgspec.json.Decoder(_WireEvent)


class _UnsureError(Exception):
    """The strict decoder must decide this message."""


def decode_common(key: bytes | None, value: bytes | None, limits: DecodeLimits) -> Event | None:
    """The event in `value` if it is a plain valid one keyed by `key`; None: ask `decode_event`."""
    if value is None or len(value) > limits.max_event_bytes or b"\\" in value:
        return None
    try:
        wire = _DECODER.decode(value)
        user_id = _identifier(wire.user_id)
        if key is None or key != user_id.encode("utf-8"):
            return None
        event = Event(
            user_id=user_id,
            ts=utc_from_seconds(_seconds(wire.ts, limits)),
            type=_event_type(wire.type),
            item_id=_identifier(wire.item_id),
            category_id=_optional(wire.category_id, _identifier),
            price=_optional(wire.price, _price),
            event_id=_optional(wire.event_id, _identifier),
        )
    except (msgspec.DecodeError, msgspec.ValidationError, _UnsureError):
        return None
    return event if value.count(b'"') == _quotes_without_repeats(wire) else None


def _quotes_without_repeats(wire: _WireEvent) -> int:
    """The `"`s of `wire`'s JSON if no name is repeated (msgspec keeps the last, we refuse).

    Without a backslash every `"` delimits a string, and the only strings are the names and the
    string values: a repeated name shows as more quotes than the decoded fields account for.
    Names `user_id`, `ts` (a number here), `type` and its value, `item_id`: 10 quotes.
    """
    quotes = 10 + 2 * isinstance(wire.user_id, str) + 2 * isinstance(wire.item_id, str)
    for raw in (wire.category_id, wire.price, wire.event_id):
        if raw is not msgspec.UNSET:
            quotes += 4 if isinstance(raw, str) else 2
    return quotes


def _optional(raw: object, check: Callable[[object], _V]) -> _V | None:
    return None if raw is None or raw is msgspec.UNSET else check(raw)


def _identifier(raw: object) -> str:
    if isinstance(raw, str):
        text = raw
    elif isinstance(raw, int) and -_ID_INT_BOUND < raw < _ID_INT_BOUND:
        text = str(raw)
    else:
        raise _UnsureError
    if not text.strip() or len(text) > MAX_ID_CHARS:
        raise _UnsureError
    if text.isascii() and text.isprintable():
        return text
    if text.isascii() or FORBIDDEN_ID_CHARS.search(text):
        raise _UnsureError
    return text


def _event_type(raw: object) -> EventType:
    event_type = EVENT_TYPES_BY_NAME.get(raw) if isinstance(raw, str) else None
    if event_type is None:
        raise _UnsureError
    return event_type


def _as_float(raw: int | float) -> float:
    try:
        return float(raw)
    except OverflowError:
        raise _UnsureError from None


def _seconds(raw: object, limits: DecodeLimits) -> float:
    if not isinstance(raw, int | float):
        raise _UnsureError
    seconds = _as_float(raw)
    latest = limits.now_seconds + limits.max_future_skew_seconds
    if not limits.min_event_epoch_seconds <= seconds <= latest:
        raise _UnsureError
    return seconds


def _price(raw: object) -> float:
    if not isinstance(raw, int | float):
        raise _UnsureError
    price = _as_float(raw)
    if not 0 <= price <= MAX_PRICE:
        raise _UnsureError
    return price
