"""`apply_event` for one event of many users at once, on `StateColumns`.

The worker's batch applies the k-th event of every user in one call: the replay checks, the
counters, times, spend and decayed counts are numpy operations on the users' rows; per event
only the ring gets its frame (and a repeated `event_id` is looked for in the ring's bytes).
The numbers equal `apply_event`'s to the bit: the decay factors come from `math.exp`, as
there (a unit test compares the two on random event streams).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stream_app.clock import SECONDS_PER_DAY
from stream_app.events.schema import EVENT_TYPES, Event
from stream_app.state.columns import F64, I64, StateColumns
from stream_app.state.ring import RecentEvent, holds_event_id, ring_of
from stream_app.state.user_state import (
    DECAY_SCALES_DAYS,
    UpdateOutcome,
    decayed_counts,
    spend_deltas,
)

_TYPE_INDEX = {event_type: index for index, event_type in enumerate(EVENT_TYPES)}
#: For each decayed count (type-major), the index of its scale.
_SCALE_OF_COUNT = np.tile(np.arange(len(DECAY_SCALES_DAYS)), len(EVENT_TYPES))


@dataclass(frozen=True)
class RoundApplied:
    """What one round did: per event, its outcome, and the users' values before it (the
    model's features read them)."""

    outcomes: list[UpdateOutcome]
    applied: npt.NDArray[np.bool_]
    #: Before the round, for the applied events only (in their order).
    last_before: F64
    first_before: F64
    events_before: I64
    spend_before: F64
    type_index: I64
    ts: F64
    price: F64


def apply_round(
    columns: StateColumns,
    rows: I64,
    events: Sequence[Event],
    offsets: I64,
    sequence_length: int,
) -> RoundApplied:
    """Fold `events[i]` (at `offsets[i]`) into row `rows[i]`; rows are distinct."""
    duplicate_offset = offsets <= columns.last_offset[rows]
    outcomes = [UpdateOutcome.DUPLICATE_OFFSET if d else UpdateOutcome.APPLIED
                for d in duplicate_offset.tolist()]  # fmt: skip
    for i, (event, row) in enumerate(zip(events, rows.tolist(), strict=True)):
        event_id = event.event_id
        if outcomes[i] is UpdateOutcome.APPLIED and event_id is not None:
            repeated_id = holds_event_id(columns.rings[row], event_id)
            outcomes[i] = UpdateOutcome.DUPLICATE_EVENT_ID if repeated_id else outcomes[i]
    repeated = np.array([o is UpdateOutcome.DUPLICATE_EVENT_ID for o in outcomes], np.bool_)
    applied = np.array([o is UpdateOutcome.APPLIED for o in outcomes], np.bool_)
    columns.last_offset[rows[repeated]] = offsets[repeated]
    r = rows[applied]
    chosen = [events[i] for i in np.flatnonzero(applied).tolist()]
    type_index = np.array([_TYPE_INDEX[e.type] for e in chosen], np.int64)
    ts = np.array([e.ts_seconds for e in chosen], np.float64)
    price = np.array([math.nan if e.price is None else e.price for e in chosen], np.float64)
    before = RoundApplied(
        outcomes, applied, columns.last[r], columns.first[r], columns.events[r],
        columns.spend[r], type_index, ts, price,
    )  # fmt: skip
    _rebuild_decayed(columns, r)
    columns.decayed[r] = decayed_after_rows(columns.decayed[r], before.last_before, ts, type_index)
    columns.has_decayed[r] = True
    columns.present[r] = True
    columns.events[r] += 1
    columns.type_counts[r, type_index] += 1
    columns.spend[r] += spend_deltas(type_index, price)
    first, last = before.first_before, before.last_before
    columns.first[r] = np.where(np.isnan(first), ts, np.minimum(first, ts))
    later = np.where(np.isnan(last), ts, np.maximum(last, ts))
    columns.alert_level[r] = np.where(later != last, 0, columns.alert_level[r])
    columns.last[r] = later
    columns.last_offset[r] = offsets[applied]
    for row, event in zip(r.tolist(), chosen, strict=True):
        columns.rings[row] = ring_of(columns.rings[row]).appended(
            RecentEvent.of(event), sequence_length
        )
    return before


def _rebuild_decayed(columns: StateColumns, rows: I64) -> None:
    """States written before the decayed counts were kept: rebuilt from their rings."""
    for row in rows[~columns.has_decayed[rows]].tolist():
        state = columns.state(row)
        rebuilt = decayed_counts(state) if state is not None else ()
        columns.decayed[row] = rebuilt or 0.0


def decayed_after_rows(counts: F64, last: F64, ts: F64, type_index: I64) -> F64:
    """`stream_app.state.user_state.decayed_after` of many users (`last` NaN: no event yet)."""
    out = counts.copy()
    has_last = ~np.isnan(last)
    later = has_last & (ts > last)
    late = has_last & ~later
    added = np.ones((len(ts), len(DECAY_SCALES_DAYS)))
    if later.any():
        elapsed = (ts[later] - last[later]) / SECONDS_PER_DAY
        out[later] *= _fades(elapsed)[:, _SCALE_OF_COUNT]
    if late.any():
        added[late] = _fades((last[late] - ts[late]) / SECONDS_PER_DAY)
    scales = len(DECAY_SCALES_DAYS)
    columns = type_index[:, None] * scales + np.arange(scales)
    out[np.arange(len(ts))[:, None], columns] += added
    return out


def _fades(days: F64) -> F64:
    """exp(−days/s) per scale, by `math.exp` (what `decayed_after` computes)."""
    return np.array([[math.exp(-d / s) for s in DECAY_SCALES_DAYS] for d in days.tolist()])
