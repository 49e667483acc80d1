"""Feature encoding: one event at a time (worker) == whole columns (training)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from stream_app.events.schema import Event, EventType
from stream_app.model.contract import CATEGORY_BUCKETS, NUMERIC_FEATURES
from stream_app.model.features import (
    PreviousEvent,
    category_bucket,
    category_buckets,
    encode_events,
    event_type_index,
    log_numeric_features,
    next_previous,
    numeric_features,
    spend_deltas,
)
from stream_app.state.user_state import spend_delta

T0 = datetime(2011, 3, 7, 9, 30, tzinfo=UTC)  # a Monday


def user_events() -> list[Event]:
    gaps = [0, 1, 30, 0.01, 200]
    ts, out = T0, []
    for i, g in enumerate(gaps):
        ts = ts + timedelta(days=g)
        kind = EventType.CANCEL if i == 3 else EventType.PURCHASE
        price = None if i == 2 else 10.0 * (i + 1) * (-1 if i == 3 else 1)
        out.append(Event("u1", ts, kind, f"i{i}", None if i == 1 else f"cat{i % 2}", price))
    return out


def test_step_by_step_equals_columns() -> None:
    events, prev, rows = user_events(), None, []
    for e in events:
        rows.append(encode_events([e], [prev]).numeric[0])
        prev = next_previous(e, prev)
    ts = np.array([e.ts_seconds for e in events])
    prev_ts = np.concatenate([[np.nan], ts[:-1]])
    price = np.array([np.nan if e.price is None else e.price for e in events])
    first_ts = np.where(np.isnan(prev_ts), np.nan, ts[0])
    kinds = np.array([event_type_index(e.type) for e in events])
    spend = np.concatenate([[0.0], np.cumsum(spend_deltas(kinds, price))[:-1]])
    cols = numeric_features(
        ts, prev_ts, np.arange(len(events), dtype=float), price, first_ts, spend
    )
    np.testing.assert_array_equal(np.stack(rows), cols)
    whole = log_numeric_features(ts, kinds, price, np.array([0, len(events)]))
    np.testing.assert_array_equal(whole, cols)
    assert cols.shape == (5, len(NUMERIC_FEATURES)) and cols.dtype == np.float32


def test_first_event_and_missing_amount_flags() -> None:
    enc = encode_events(user_events()[:3], [None, PreviousEvent(T0.timestamp(), 1), None])
    names = list(NUMERIC_FEATURES)
    assert enc.numeric[0, names.index("is_first_event")] == 1.0
    assert enc.numeric[0, names.index("log_gap_minutes")] == 0.0
    assert enc.numeric[1, names.index("is_first_event")] == 0.0
    assert enc.numeric[2, names.index("has_amount")] == 0.0


def test_category_buckets_are_stable_and_reserve_zero() -> None:
    assert category_bucket(None) == 0 and category_bucket("") == 0
    b = category_bucket("HOLDER")
    assert 1 <= b < CATEGORY_BUCKETS and b == category_bucket("HOLDER")
    np.testing.assert_array_equal(
        category_buckets(["HOLDER", None, "BAG"]),
        [b, 0, category_bucket("BAG")],
    )


def test_late_event_does_not_move_time_back() -> None:
    prev = PreviousEvent(T0.timestamp(), 3)
    late = Event("u1", T0 - timedelta(hours=1), EventType.VIEW, "x")
    nxt = next_previous(late, prev)
    assert nxt.ts_seconds == prev.ts_seconds and nxt.events_total == 4
    gap = encode_events([late], [prev]).numeric[0, 0]
    assert gap == 0.0


def test_spend_deltas_match_the_worker_state() -> None:
    events = [*user_events(), Event("u1", T0, EventType.VIEW, "v", None, 3.0)]
    kinds = np.array([event_type_index(e.type) for e in events])
    price = np.array([np.nan if e.price is None else e.price for e in events])
    np.testing.assert_array_equal(spend_deltas(kinds, price), [spend_delta(e) for e in events])


def test_tenure_and_spend_features_follow_the_stored_counters() -> None:
    names = list(NUMERIC_FEATURES)
    prev = PreviousEvent(T0.timestamp(), 4, first_ts_seconds=T0.timestamp() - 8 * 86400.0,
                         spend_total=-(np.e**10 - 1))  # fmt: skip
    event = Event("u1", T0 + timedelta(days=1), EventType.PURCHASE, "i", "c", 5.0)
    row = encode_events([event], [prev]).numeric[0]
    assert row[names.index("log_tenure_days")] == np.float32(np.log1p(9.0) / 6.0)
    assert row[names.index("log_mean_gap_days")] == np.float32(np.log1p(9.0 / 4) / 6.0)
    assert abs(row[names.index("log_spend_before")] - 1.0) < 1e-6
    first = encode_events([event], [None]).numeric[0]
    assert first[names.index("log_tenure_days")] == 0.0 == first[names.index("log_spend_before")]
