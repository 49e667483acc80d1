"""Users' states in columns: the fixed part of every user of a batch in numpy arrays by row.

The worker's batch reads its users' table values into one `StateColumns` (`stream_app.state.
codec.decode_columns`: one array operation per field for the whole batch), applies events and
the model step to whole columns and writes the changed rows back (`encode_columns`). The ring
of recent events stays packed bytes per row, decoded only when an alert or an action reads it;
the variable parts (action times, open predictions, outcome tallies) are Python values per row,
empty for most users. A `UserState` of a row is built only where a reader needs one (an action,
an outcome, a tick); the cold paths and tests speak `UserState`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from stream_app.events.schema import EVENT_TYPES
from stream_app.state.model_state import ModelState, TopBuckets, top_buckets_of
from stream_app.state.outcomes import NO_OUTCOMES, OpenPrediction, Outcomes
from stream_app.state.ring import PackedRing, ring_of
from stream_app.state.user_state import DECAYED_SIZE, UserState

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: A top-bucket slot a component does not use (a component with fewer buckets than the others);
#: bucket ids are within (−2³¹, 2³¹).
NO_BUCKET = -(2**31)

_EMPTY_RING = PackedRing(b"", 0, ())


class ModelShapes(NamedTuple):
    """Sizes of a model state: h, c, mixture components, components with top buckets and the
    top buckets of the widest one."""

    hidden: int
    cell: int
    components: int
    top_components: int
    top_each: int

    @classmethod
    def of(cls, model: ModelState) -> ModelShapes:
        """The shapes of one model state."""
        top = top_buckets_of(model.top_buckets)
        each = max((len(b) for b in top.buckets), default=0)
        return cls(len(model.h), len(model.c), len(model.mu), len(top.buckets), each)


@dataclass
class ModelColumns:
    """The model part of every row: version (None: no model state), (h, c), the head's rates and
    the top buckets (ids padded with `NO_BUCKET`). Numbers are float64 columns, exact for the
    model's float32 outputs; a row whose shapes differ from the columns' is kept in `odd`."""

    shapes: ModelShapes
    versions: list[str | None]
    h: F64
    c: F64
    mu: F64
    alpha: F64
    beta: F64
    top_weights: F64  # (n, top_components, top_each)
    top_ids: I64  # (n, top_components, top_each)
    odd: dict[int, ModelState] = field(default_factory=dict)

    @classmethod
    def empty(cls, rows: int, shapes: ModelShapes) -> ModelColumns:
        """No row has a model state yet."""
        hidden, cell, components, top_components, each = shapes
        return cls(
            shapes,
            [None] * rows,
            np.zeros((rows, hidden)),
            np.zeros((rows, cell)),
            np.zeros((rows, components)),
            np.zeros((rows, components)),
            np.zeros((rows, components)),
            np.zeros((rows, top_components, each)),
            np.full((rows, top_components, each), NO_BUCKET, np.int64),
        )

    def reshaped(self, shapes: ModelShapes) -> ModelColumns:
        """The same rows in columns of other shapes (rows that do not fit go to `odd`)."""
        out = ModelColumns.empty(len(self.versions), shapes)
        for row in range(len(self.versions)):
            out.set(row, self.state(row))
        return out

    def state(self, row: int) -> ModelState | None:
        """The row's model state (its numbers as views of the columns)."""
        version = self.versions[row]
        if version is None:
            return None
        if row in self.odd:
            return self.odd[row]
        top = unpadded_top(self.top_ids[row], self.top_weights[row])
        return ModelState(
            version, self.h[row], self.c[row], self.mu[row], self.alpha[row], self.beta[row], top
        )

    def set(self, row: int, model: ModelState | None) -> None:
        """Put one model state in row `row`."""
        self.odd.pop(row, None)
        self.versions[row] = None if model is None else model.version
        if model is None:
            return
        if ModelShapes.of(model) != self.shapes:
            self.odd[row] = model
            return
        self.h[row], self.c[row] = model.h, model.c
        self.mu[row], self.alpha[row], self.beta[row] = model.mu, model.alpha, model.beta
        top = top_buckets_of(model.top_buckets)
        self.top_ids[row], self.top_weights[row] = padded_top(top, self.shapes)


def padded_top(top: TopBuckets, shapes: ModelShapes) -> tuple[I64, F64]:
    """Top buckets as (top_components, top_each) ids and weights; a component with fewer
    buckets is padded with `NO_BUCKET` and weight 0."""
    ids = np.full((shapes.top_components, shapes.top_each), NO_BUCKET, np.int64)
    weights = np.zeros(ids.shape)
    flat = np.asarray(top.weights, np.float64)
    if all(len(component) == shapes.top_each for component in top.buckets):
        if ids.size:
            ids[:] = top.buckets
            weights[:] = flat.reshape(ids.shape)
        return ids, weights
    start = 0
    for k, component in enumerate(top.buckets):
        ids[k, : len(component)] = component
        weights[k, : len(component)] = flat[start : start + len(component)]
        start += len(component)
    return ids, weights


def unpadded_top(ids: I64, weights: npt.NDArray[np.floating[Any]]) -> TopBuckets:
    """Inverse of `padded_top` (the weights as a view where no slot is padded)."""
    used = ids != NO_BUCKET
    if used.all():
        return TopBuckets(ids.tolist(), weights.reshape(-1))
    buckets = [component[mask].tolist() for component, mask in zip(ids, used, strict=True)]
    return TopBuckets(buckets, weights[used])


@dataclass
class StateColumns:
    """The states of `rows` users (row i: the i-th key of the batch). A row whose user has no
    state yet is `present` False and holds an empty state."""

    present: npt.NDArray[np.bool_]
    events: I64
    type_counts: I64  # (n, event types)
    spend: F64
    first: F64  # NaN: no event yet
    last: F64  # NaN: no event yet
    last_offset: I64
    last_tick_offset: I64
    alert_level: I64
    decayed: F64  # (n, DECAYED_SIZE), at `last`
    has_decayed: npt.NDArray[np.bool_]  # False: a state written before they were kept
    rings: list[PackedRing]
    action_times: list[tuple[tuple[str, float], ...]]
    predictions: list[tuple[OpenPrediction, ...]]
    outcomes: list[Outcomes]
    model: ModelColumns

    @classmethod
    def empty(cls, rows: int, shapes: ModelShapes) -> StateColumns:
        """`rows` users with no state."""
        return cls(
            present=np.zeros(rows, np.bool_),
            events=np.zeros(rows, np.int64),
            type_counts=np.zeros((rows, len(EVENT_TYPES)), np.int64),
            spend=np.zeros(rows),
            first=np.full(rows, np.nan),
            last=np.full(rows, np.nan),
            last_offset=np.full(rows, -1, np.int64),
            last_tick_offset=np.full(rows, -1, np.int64),
            alert_level=np.zeros(rows, np.int64),
            decayed=np.zeros((rows, DECAYED_SIZE)),
            has_decayed=np.zeros(rows, np.bool_),
            rings=[_EMPTY_RING] * rows,
            action_times=[()] * rows,
            predictions=[()] * rows,
            outcomes=[NO_OUTCOMES] * rows,
            model=ModelColumns.empty(rows, shapes),
        )

    def __len__(self) -> int:
        return len(self.events)

    def state(self, row: int) -> UserState | None:
        """The row's state as a `UserState` (None for a user without one)."""
        if not self.present[row]:
            return None
        first, last = float(self.first[row]), float(self.last[row])
        return UserState(
            events_total=int(self.events[row]),
            type_counts=tuple(self.type_counts[row].tolist()),
            spend_total=float(self.spend[row]),
            first_event_seconds=None if first != first else first,
            last_event_seconds=None if last != last else last,
            recent=self.rings[row],
            last_offset=int(self.last_offset[row]),
            model=self.model.state(row),
            alert_level=int(self.alert_level[row]),
            last_tick_offset=int(self.last_tick_offset[row]),
            action_times=self.action_times[row],
            predictions=self.predictions[row],
            outcomes=self.outcomes[row],
            decayed=tuple(self.decayed[row].tolist()) if self.has_decayed[row] else (),
        )

    def set(self, row: int, state: UserState | None) -> None:
        """Put one state in row `row` (None: no state)."""
        if state is None:
            self.present[row] = False
            return
        self.present[row] = True
        self.events[row] = state.events_total
        self.type_counts[row] = state.type_counts
        self.spend[row] = state.spend_total
        self.first[row] = _or_nan(state.first_event_seconds)
        self.last[row] = _or_nan(state.last_event_seconds)
        self.last_offset[row] = state.last_offset
        self.last_tick_offset[row] = state.last_tick_offset
        self.alert_level[row] = state.alert_level
        self.has_decayed[row] = bool(state.decayed)
        self.decayed[row] = state.decayed or (0.0,) * DECAYED_SIZE
        self.rings[row] = ring_of(state.recent)
        self.action_times[row] = state.action_times
        self.predictions[row] = state.predictions
        self.outcomes[row] = state.outcomes
        self.model.set(row, state.model)


def shapes_of(states: list[UserState | None], default: ModelShapes | None = None) -> ModelShapes:
    """The model shapes of the first state with a model (`default`, else zeros, when none has)."""
    if default is not None:
        return default
    for state in states:
        if state is not None and state.model is not None:
            return ModelShapes.of(state.model)
    return ModelShapes(0, 0, 0, 0, 0)


def columns_of(states: list[UserState | None], shapes: ModelShapes | None = None) -> StateColumns:
    """Columns holding `states` (row by row: for tests, the cold paths and older formats)."""
    columns = StateColumns.empty(len(states), shapes_of(states, shapes))
    for row, state in enumerate(states):
        columns.set(row, state)
    return columns


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else value
