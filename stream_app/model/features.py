"""Feature encoding of canonical events (pure numpy), shared by training and serving.

Every function works on whole columns, so a batch of stream events and a training log of a
million rows go through the very same code. Per user, the caller keeps the time of the previous
event, the number of events seen so far, the time of their first event and their running spend
(`PreviousEvent`; the worker fills it from the counters its table already keeps).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stream_app.clock import SECONDS_PER_DAY
from stream_app.events.schema import EVENT_TYPES, Event, EventType
from stream_app.model.contract import CATEGORY_BUCKETS, NUMERIC_FEATURES
from stream_app.state.user_state import spend_delta
from stream_app.state.user_state import spend_deltas as spend_deltas

FloatArray = npt.NDArray[np.float32]
F64Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_TYPE_INDEX: dict[EventType, int] = {t: i for i, t in enumerate(EVENT_TYPES)}
_GAP_SCALE = 10.0
_AMOUNT_SCALE = 10.0
_COUNT_SCALE = 5.0
_TENURE_SCALE = 6.0
_SPEND_SCALE = 10.0
#: Weekday of 1970-01-01 (a Thursday; Monday = 0).
EPOCH_WEEKDAY = 3


@dataclass(frozen=True, slots=True)
class PreviousEvent:
    """What the encoder needs to remember about a user between events.

    `first_ts_seconds` (None: same as `ts_seconds`) and `spend_total` (the running sum of
    `stream_app.state.user_state.spend_delta`) feed the tenure and spend features; the worker
    takes them from `UserState.first_event_seconds` and `UserState.spend_total`.
    """

    ts_seconds: float
    events_total: int
    first_ts_seconds: float | None = None
    spend_total: float = 0.0


@dataclass(frozen=True, slots=True)
class EncodedEvents:
    """Model inputs for N events: type index, category bucket, numeric columns."""

    event_type: IntArray
    category_bucket: IntArray
    numeric: FloatArray


def category_bucket(category_id: str | None, buckets: int = CATEGORY_BUCKETS) -> int:
    """Stable hashed bucket of a category id; 0 is reserved for 'no category'."""
    if category_id is None or category_id == "":
        return 0
    return int(zlib.crc32(category_id.encode("utf-8")) % (buckets - 1)) + 1


def category_buckets(categories: Sequence[str | None]) -> IntArray:
    """Buckets of many category ids (each distinct id hashed once)."""
    keys = ["" if c is None else c for c in categories]
    uniques, inverse = np.unique(np.asarray(keys, dtype=object), return_inverse=True)
    table = np.fromiter((category_bucket(str(u)) for u in uniques), np.int64, len(uniques))
    return table[inverse.reshape(-1)] if len(keys) else np.zeros(0, np.int64)


def event_type_index(event_type: EventType) -> int:
    """Index of an event type in the contract's vocabulary."""
    return _TYPE_INDEX[event_type]


def numeric_features(
    ts_seconds: npt.NDArray[np.float64],
    prev_ts_seconds: npt.NDArray[np.float64],
    events_before: npt.NDArray[np.float64],
    amount: npt.NDArray[np.float64],
    first_ts_seconds: npt.NDArray[np.float64],
    spend_before: npt.NDArray[np.float64],
) -> FloatArray:
    """Numeric columns (order of `NUMERIC_FEATURES`); NaN marks no previous event / no amount.

    `first_ts_seconds` is the user's first event time (NaN: this is the first event) and
    `spend_before` the running spend before this event.
    """
    ts = np.asarray(ts_seconds, np.float64)
    prev = np.asarray(prev_ts_seconds, np.float64)
    first = np.isnan(prev)
    gap_minutes = np.where(first, 0.0, np.maximum(ts - np.where(first, ts, prev), 0.0) / 60.0)
    day_fraction = np.mod(ts, SECONDS_PER_DAY) / SECONDS_PER_DAY
    weekday = np.mod(np.floor(ts / SECONDS_PER_DAY) + EPOCH_WEEKDAY, 7.0) / 7.0
    amt = np.asarray(amount, np.float64)
    has_amount = ~np.isnan(amt)
    log_amount = np.log1p(np.abs(np.where(has_amount, amt, 0.0))) / _AMOUNT_SCALE
    count = np.asarray(events_before, np.float64)
    start = np.asarray(first_ts_seconds, np.float64)
    tenure_days = np.maximum(ts - np.where(np.isnan(start), ts, start), 0.0) / SECONDS_PER_DAY
    spend = np.abs(np.asarray(spend_before, np.float64))
    columns = (
        np.log1p(gap_minutes) / _GAP_SCALE,
        first.astype(np.float64),
        np.sin(2 * np.pi * day_fraction),
        np.cos(2 * np.pi * day_fraction),
        np.sin(2 * np.pi * weekday),
        np.cos(2 * np.pi * weekday),
        log_amount,
        has_amount.astype(np.float64),
        np.log1p(count) / _COUNT_SCALE,
        np.log1p(tenure_days) / _TENURE_SCALE,
        np.log1p(tenure_days / np.maximum(count, 1.0)) / _TENURE_SCALE,
        np.log1p(spend) / _SPEND_SCALE,
    )
    out = np.stack(columns, axis=-1).astype(np.float32)
    assert out.shape[-1] == len(NUMERIC_FEATURES)
    return out


def running_spend_before(deltas: F64Array, starts: IntArray) -> F64Array:
    """Per user, the running spend before each event, summed in the worker's order.

    A per-user `cumsum` adds in the same order as `next_previous` (0.0 + d₁ + d₂ …), so the
    result is bit-for-bit the worker's `spend_total`, unlike one global cumsum minus an offset.
    """
    out = np.zeros(len(deltas), np.float64)
    for a, b in zip(starts[:-1].tolist(), starts[1:].tolist(), strict=True):
        if b - a > 1:
            out[a + 1 : b] = np.cumsum(deltas[a : b - 1])
    return out


def log_numeric_features(
    ts_seconds: npt.NDArray[np.float64],
    event_type: npt.NDArray[np.int64],
    amount: npt.NDArray[np.float64],
    starts: IntArray,
) -> FloatArray:
    """Numeric columns of a whole log sorted by (user, time); `starts` = user run offsets + end.

    Every event gets what the worker's per-user state would hold just before it.
    """
    n = len(ts_seconds)
    ts = np.asarray(ts_seconds, np.float64)
    lengths = np.diff(starts)
    first_index = np.repeat(starts[:-1], lengths)
    pos = np.arange(n, dtype=np.int64) - first_index
    shifted = np.concatenate([[np.nan], ts[:-1]]) if n else ts
    prev_ts = np.where(pos == 0, np.nan, shifted)
    first_ts = np.where(pos == 0, np.nan, ts[first_index] if n else ts)
    spend_before = running_spend_before(spend_deltas(event_type, amount), starts)
    return numeric_features(ts, prev_ts, pos.astype(np.float64), amount, first_ts, spend_before)


def encode_events(
    events: Sequence[Event], previous: Sequence[PreviousEvent | None]
) -> EncodedEvents:
    """Encode a batch of events, each with its user's previous-event info (None: first)."""
    if len(events) != len(previous):
        raise ValueError("events and previous must have the same length")
    prev_ts = np.array([np.nan if p is None else p.ts_seconds for p in previous], np.float64)
    before = np.array([0 if p is None else p.events_total for p in previous], np.float64)
    first_ts = np.array([_first_ts(p) for p in previous], np.float64)
    spend = np.array([0.0 if p is None else p.spend_total for p in previous], np.float64)
    amount = np.array([np.nan if e.price is None else e.price for e in events], np.float64)
    ts = np.array([e.ts_seconds for e in events], np.float64)
    return EncodedEvents(
        event_type=np.array([event_type_index(e.type) for e in events], np.int64),
        category_bucket=category_buckets([e.category_id for e in events]),
        numeric=numeric_features(ts, prev_ts, before, amount, first_ts, spend),
    )


def encode_user_events(events: Sequence[Event]) -> EncodedEvents:
    """One user's events, in order, each encoded with the previous-event info of the ones
    before it (what the sequence graph takes, and the worker's steps one by one)."""
    previous: list[PreviousEvent | None] = []
    prev: PreviousEvent | None = None
    for event in events:
        previous.append(prev)
        prev = next_previous(event, prev)
    return encode_events(events, previous)


def _first_ts(previous: PreviousEvent | None) -> float:
    if previous is None:
        return float("nan")
    return previous.ts_seconds if previous.first_ts_seconds is None else previous.first_ts_seconds


def next_previous(event: Event, previous: PreviousEvent | None) -> PreviousEvent:
    """The per-user info after `event` (what the worker stores for the next step)."""
    if previous is None:
        return PreviousEvent(
            ts_seconds=event.ts_seconds,
            events_total=1,
            first_ts_seconds=event.ts_seconds,
            spend_total=spend_delta(event),
        )
    ts = max(event.ts_seconds, previous.ts_seconds)  # a late event does not move time back
    return PreviousEvent(
        ts_seconds=ts,
        events_total=previous.events_total + 1,
        first_ts_seconds=min(_first_ts(previous), event.ts_seconds),
        spend_total=previous.spend_total + spend_delta(event),
    )
