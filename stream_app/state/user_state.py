"""UserState: what the table keeps per user, and `apply_event()` (pure, idempotent on replays).

The table stores the bytes of `stream_app.state.codec.encode_state` (raw bytes to Faust, so a value never fails to decode
inside Faust); a new state is a new object (Faust writes the changelog on assignment, never on
mutation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from stream_app.clock import SECONDS_PER_DAY
from stream_app.events.schema import EVENT_TYPES, Event, EventType
from stream_app.state.model_state import ModelState
from stream_app.state.outcomes import (
    NO_OUTCOMES,
    OpenPrediction,
    Outcomes,
)
from stream_app.state.ring import RecentEvent, holds_event_id, ring_of

__all__ = [
    "DECAYED_SIZE",
    "DECAY_SCALES_DAYS",
    "ModelState",
    "RecentEvent",
    "UpdateOutcome",
    "UserState",
    "apply_event",
    "decayed_after",
    "decayed_counts",
    "spend_delta",
    "spend_deltas",
]

_TYPE_INDEX = {event_type: index for index, event_type in enumerate(EVENT_TYPES)}

#: Time scales (days) of the decayed event counts kept per type: an event of age a days counts
#: exp(−a/s). They are kept at the last event's time, so in silence each is one product.
DECAY_SCALES_DAYS: tuple[float, ...] = (7.0, 30.0, 90.0)
#: Length of `UserState.decayed`: one count per (event type, scale), type-major.
DECAYED_SIZE = len(EVENT_TYPES) * len(DECAY_SCALES_DAYS)


@dataclass(frozen=True, slots=True)
class UserState:
    """Counters, recent sequence and event times of one user.

    `last_offset` is the offset of the last applied event on the user's partition: a message
    delivered again after a crash (at-least-once) is recognised and not counted twice.
    """

    events_total: int = 0
    type_counts: tuple[int, ...] = (0,) * len(EVENT_TYPES)
    spend_total: float = 0.0
    first_event_seconds: float | None = None
    last_event_seconds: float | None = None
    #: Oldest first: a `PackedRing` as the worker builds and reads it (a tuple works too).
    recent: Sequence[RecentEvent] = ()
    last_offset: int = -1
    model: ModelState | None = None
    alert_level: int = 0
    last_tick_offset: int = -1
    action_times: tuple[tuple[str, float], ...] = ()
    #: Alerts of the current silence not yet resolved, and the outcomes resolved so far.
    predictions: tuple[OpenPrediction, ...] = ()
    outcomes: Outcomes = NO_OUTCOMES
    #: Decayed counts per (type, scale) at `last_event_seconds` (`DECAY_SCALES_DAYS`); () in a
    #: state written before they were kept (`decayed_counts` rebuilds them from the ring).
    decayed: tuple[float, ...] = ()

    def with_model(self, model: ModelState | None) -> UserState:
        """This state with another model state (`replace`, spelled out: once per event)."""
        return UserState(
            self.events_total, self.type_counts, self.spend_total, self.first_event_seconds,
            self.last_event_seconds, self.recent, self.last_offset, model, self.alert_level,
            self.last_tick_offset, self.action_times, self.predictions, self.outcomes,
            self.decayed,
        )  # fmt: skip

    def count(self, event_type: EventType) -> int:
        """Events seen of one type."""
        return self.type_counts[_TYPE_INDEX[event_type]]

    @property
    def purchases_total(self) -> int:
        """Purchase events seen."""
        return self.count(EventType.PURCHASE)


class UpdateOutcome(StrEnum):
    """What `apply_event` did with an event."""

    APPLIED = "applied"
    DUPLICATE_OFFSET = "duplicate_offset"
    DUPLICATE_EVENT_ID = "duplicate_event_id"


def apply_event(
    state: UserState | None, event: Event, offset: int, sequence_length: int
) -> tuple[UserState, UpdateOutcome]:
    """Fold one event into a user's state; replays and repeated `event_id`s change nothing."""
    current = state or UserState()
    if offset <= current.last_offset:
        return current, UpdateOutcome.DUPLICATE_OFFSET
    if event.event_id is not None and holds_event_id(current.recent, event.event_id):
        return replace(current, last_offset=offset), UpdateOutcome.DUPLICATE_EVENT_ID
    counts = list(current.type_counts)
    counts[_TYPE_INDEX[event.type]] += 1
    ts = event.ts_seconds
    last_event = _max(current.last_event_seconds, ts)
    updated = UserState(  # every field, not `replace`: this runs once per event
        events_total=current.events_total + 1,
        type_counts=tuple(counts),
        spend_total=current.spend_total + spend_delta(event),
        first_event_seconds=_min(current.first_event_seconds, ts),
        last_event_seconds=last_event,
        recent=ring_of(current.recent).appended(RecentEvent.of(event), sequence_length),
        last_offset=offset,
        model=current.model,
        alert_level=0 if last_event != current.last_event_seconds else current.alert_level,
        last_tick_offset=current.last_tick_offset,
        action_times=current.action_times,
        predictions=current.predictions,
        outcomes=current.outcomes,
        decayed=decayed_after(
            decayed_counts(current), current.last_event_seconds, ts, _TYPE_INDEX[event.type]
        ),
    )
    return updated, UpdateOutcome.APPLIED


def spend_delta(event: Event) -> float:
    """Money spent by an event: a purchase adds its price, a cancellation refunds it."""
    if event.price is None:
        return 0.0
    if event.type is EventType.PURCHASE:
        return event.price
    if event.type is EventType.CANCEL:
        return -event.price
    return 0.0


def spend_deltas(
    type_index: npt.NDArray[np.int64], amount: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """`spend_delta` of many events: their type indices (`EVENT_TYPES`) and prices (NaN: none)."""
    amt = np.nan_to_num(np.asarray(amount, np.float64))
    kind = np.asarray(type_index, np.int64)
    out: npt.NDArray[np.float64] = np.where(
        kind == _TYPE_INDEX[EventType.PURCHASE],
        amt,
        np.where(kind == _TYPE_INDEX[EventType.CANCEL], -amt, 0.0),
    )
    return out


def decayed_after(
    decayed: tuple[float, ...], last_seconds: float | None, ts_seconds: float, type_index: int
) -> tuple[float, ...]:
    """Decayed counts at the later of the last event and `ts_seconds`, with one more event.

    Counts are kept at the last event's time: a later event decays them to its own time first;
    a late event (before the last) adds its weight at its age instead.
    """
    scales = len(DECAY_SCALES_DAYS)
    counts = list(decayed) if decayed else [0.0] * DECAYED_SIZE
    if last_seconds is not None and ts_seconds > last_seconds:
        elapsed = (ts_seconds - last_seconds) / SECONDS_PER_DAY
        factors = [math.exp(-elapsed / s) for s in DECAY_SCALES_DAYS]
        counts = [c * factors[i % scales] for i, c in enumerate(counts)]
        added = [1.0] * scales
    elif last_seconds is not None:
        age = (last_seconds - ts_seconds) / SECONDS_PER_DAY
        added = [math.exp(-age / s) for s in DECAY_SCALES_DAYS]
    else:
        added = [1.0] * scales
    for j, weight in enumerate(added):
        counts[type_index * scales + j] += weight
    return tuple(counts)


def decayed_counts(state: UserState) -> tuple[float, ...]:
    """The state's decayed counts; for a state written before they were kept, rebuilt from its
    ring of recent events (older events, beyond the ring, are missing from them)."""
    if state.decayed or state.last_event_seconds is None:
        return state.decayed
    counts: tuple[float, ...] = ()
    last: float | None = None
    for r in sorted(state.recent, key=lambda r: r.ts_seconds):
        counts = decayed_after(counts, last, r.ts_seconds, _TYPE_INDEX[r.type])
        last = r.ts_seconds if last is None else max(last, r.ts_seconds)
    if last is None:
        return (0.0,) * DECAYED_SIZE
    factor = [
        math.exp(-(state.last_event_seconds - last) / SECONDS_PER_DAY / s)
        for s in DECAY_SCALES_DAYS
    ]
    return tuple(c * factor[i % len(factor)] for i, c in enumerate(counts))


def _min(a: float | None, b: float) -> float:
    return b if a is None else min(a, b)


def _max(a: float | None, b: float) -> float:
    return b if a is None else max(a, b)
