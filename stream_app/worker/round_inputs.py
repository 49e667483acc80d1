"""The model's inputs for a round of the batch: the users' stored recurrent states and their
applied events encoded as the step graph takes them."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from stream_app.events.schema import Event
from stream_app.model.features import EncodedEvents, category_buckets, numeric_features
from stream_app.state.apply_columns import RoundApplied
from stream_app.state.columns import StateColumns
from stream_app.worker.serving import ServingModel


def stored_recurrent_states(
    model: ServingModel, columns: StateColumns, rows: npt.NDArray[np.int64]
) -> tuple[np.ndarray, np.ndarray]:
    """Stored (h, c) per user; zeros for new users and for states of another model version."""
    h = np.zeros((len(rows), model.hidden_size), np.float32)
    c = np.zeros_like(h)
    heads = columns.model
    own = np.array([heads.versions[r] == model.version for r in rows.tolist()], np.bool_)
    regular = own & np.array([r not in heads.odd for r in rows.tolist()], np.bool_)
    if regular.any() and heads.shapes.hidden == model.hidden_size:
        h[regular], c[regular] = heads.h[rows[regular]], heads.c[rows[regular]]
    for i in np.flatnonzero(own & ~regular).tolist():  # this model's state, other columns
        stored = heads.state(int(rows[i]))
        if stored is not None and len(stored.h) == model.hidden_size:
            h[i], c[i] = stored.h, stored.c
    return h, c


def round_inputs(events: list[Event], done: RoundApplied) -> EncodedEvents:
    """The model's inputs for the applied events of a round, from the users' values before it
    (`stream_app.model.features.encode_events` with each user's `PreviousEvent`)."""
    first_event = np.isnan(done.last_before)
    first_ts = np.where(np.isnan(done.first_before), done.last_before, done.first_before)
    numeric = numeric_features(
        done.ts,
        done.last_before,
        np.where(first_event, 0, done.events_before).astype(np.float64),
        done.price,
        np.where(first_event, np.nan, first_ts),
        np.where(first_event, 0.0, done.spend_before),
    )
    buckets = category_buckets([event.category_id for event in events])
    return EncodedEvents(event_type=done.type_index, category_bucket=buckets, numeric=numeric)
