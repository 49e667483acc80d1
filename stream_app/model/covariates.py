"""The head's covariates: what the strong baselines see, at any silence τ, in closed form.

Per user, a `History` holds what the state keeps at the last event (counters, spend, the span
from the first to the last event, decayed counts per type); `covariates` turns it into the
named columns of `COVARIATE_NAMES` at a silence τ, for one τ per user or a grid of them. A
logistic term over these columns sits beside logit P in the calibration
(`stream_app.model.survival.Calibration`), so the served family contains an RFM logistic
regression. Training builds a `History` from a log (`history_of_log`), the worker from its table
(`history_of_states`): the same numbers, compared in the reader-parity test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stream_app.clock import SECONDS_PER_DAY
from stream_app.events.schema import EVENT_TYPES, EventType
from stream_app.state.columns import StateColumns
from stream_app.state.user_state import (
    DECAY_SCALES_DAYS,
    DECAYED_SIZE,
    UserState,
    decayed_counts,
)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

_PURCHASE = EVENT_TYPES.index(EventType.PURCHASE)
_CANCEL = EVENT_TYPES.index(EventType.CANCEL)

COVARIATE_NAMES: tuple[str, ...] = (
    "log1p_tau_days",
    "log1p_tenure_days",
    "log1p_events",
    "log1p_purchases",
    "log1p_cancels",
    "log1p_spend",
    "log1p_mean_basket",
    "log1p_mean_gap_days",
    "log1p_tau_over_gap",
    *(f"decayed_all_{s:g}d" for s in DECAY_SCALES_DAYS),
    *(f"log1p_decayed_{t.value}_{s:g}d" for t in EVENT_TYPES for s in DECAY_SCALES_DAYS),
)


@dataclass(frozen=True)
class History:
    """Per user (N,): what the state holds at the last event; `decayed` is (N, types × scales)."""

    span_days: F64  # last event − first event
    events: F64
    purchases: F64
    cancels: F64
    spend: F64
    decayed: F64

    def take(self, rows: npt.ArrayLike) -> History:
        """The users `rows`."""
        idx = np.asarray(rows, np.int64)
        return History(*(getattr(self, f)[idx] for f in _FIELDS))


_FIELDS = ("span_days", "events", "purchases", "cancels", "spend", "decayed")


#: The columns of `COVARIATE_NAMES` that do not depend on τ (indices).
_STATIC_COLUMNS = slice(2, 8)


def _mean_gap_days(history: History) -> F64:
    """(N,) mean days between a user's events (0 before a second one)."""
    gap: F64 = history.span_days / np.maximum(history.events - 1.0, 1.0)
    return gap


def _static_columns(history: History) -> F64:
    """(N, 6): the columns `_STATIC_COLUMNS` of `COVARIATE_NAMES`, the same at every τ."""
    buys = history.purchases
    spend = np.maximum(history.spend, 0.0)
    return np.stack(
        [
            np.log1p(history.events),
            np.log1p(buys),
            np.log1p(history.cancels),
            np.log1p(spend),
            np.log1p(spend / np.maximum(buys, 1.0)),
            np.log1p(_mean_gap_days(history)),
        ],
        axis=-1,
    )


def covariates(history: History, tau_days: F64) -> F64:
    """The columns of `COVARIATE_NAMES` at silences τ: shape (N, F) or (N, G, F) for τ (N, G)."""
    tau = np.maximum(np.asarray(tau_days, np.float64), 0.0)

    def per_user(x: F64) -> F64:
        return x.reshape(x.shape + (1,) * (tau.ndim - 1))

    n = history.events
    gap = _mean_gap_days(history)
    out = np.empty((*tau.shape, len(COVARIATE_NAMES)))
    out[..., 0] = np.log1p(tau)
    out[..., 1] = np.log1p(per_user(history.span_days) + tau)
    out[..., _STATIC_COLUMNS] = _static_columns(history).reshape(
        n.shape + (1,) * (tau.ndim - 1) + (-1,)
    )
    out[..., 8] = np.log1p(tau / per_user(np.maximum(gap, 1.0)))
    scales = np.asarray(DECAY_SCALES_DAYS, np.float64)
    fade = np.exp(-tau[..., None] / scales)  # (N[, G], S)
    by_type = history.decayed.reshape(len(n), len(EVENT_TYPES), scales.size)
    expand = (slice(None),) + (None,) * (tau.ndim - 1)
    decayed = by_type[expand] * fade[..., None, :]  # (N[, G], T, S)
    first = 9 + scales.size
    out[..., 9:first] = by_type.sum(axis=1)[expand] * fade
    np.log1p(decayed.reshape((*tau.shape, DECAYED_SIZE)), out=out[..., first:])
    return out


def covariate_logit(history: History, tau_days: F64, weights: Sequence[float]) -> F64:
    """w·x(τ) for `covariates` x, shape of τ, without building x: the τ-free columns once per
    user, the τ-dependent ones only where their weight is not 0 (what the worker evaluates on
    every grid point and refinement of the schedule)."""
    tau = np.maximum(np.asarray(tau_days, np.float64), 0.0)
    w = np.asarray(weights, np.float64)
    if w.shape != (len(COVARIATE_NAMES),):
        raise ValueError(f"{w.size} covariate weights for {len(COVARIATE_NAMES)} covariates")

    def per_user(x: F64) -> F64:
        return x.reshape(x.shape + (1,) * (tau.ndim - 1))

    n = history.events
    gap = _mean_gap_days(history)
    # a sum per user, not a matrix product: its rounding could depend on how many users there are
    static = (_static_columns(history) * w[_STATIC_COLUMNS]).sum(axis=-1)
    out = np.broadcast_to(per_user(static), tau.shape).copy()
    if w[0]:
        out += w[0] * np.log1p(tau)
    if w[1]:
        out += w[1] * np.log1p(per_user(history.span_days) + tau)
    if w[8]:
        out += w[8] * np.log1p(tau / per_user(np.maximum(gap, 1.0)))
    scales = DECAY_SCALES_DAYS
    by_type = history.decayed.reshape(len(n), len(EVENT_TYPES), len(scales))
    first = 9 + len(scales)
    for s, scale in enumerate(scales):
        type_weights = w[first + s :: len(scales)]
        if not (w[9 + s] or type_weights.any()):
            continue
        fade = np.exp(-tau / scale)
        if w[9 + s]:
            out += w[9 + s] * per_user(by_type[:, :, s].sum(axis=1)) * fade
        for t in np.flatnonzero(type_weights):
            out += type_weights[t] * np.log1p(per_user(by_type[:, t, s]) * fade)
    return out


def history_of_states(states: Sequence[UserState]) -> History:
    """The `History` of users from their table states (each with at least one event)."""
    first = np.array([s.first_event_seconds or 0.0 for s in states], np.float64)
    last = np.array([s.last_event_seconds or 0.0 for s in states], np.float64)
    counts = np.array([s.type_counts for s in states], np.float64).reshape(-1, len(EVENT_TYPES))
    decayed = np.array([decayed_counts(s) or (0.0,) * DECAYED_SIZE for s in states], np.float64)
    return History(
        span_days=(last - first) / SECONDS_PER_DAY,
        events=np.array([s.events_total for s in states], np.float64),
        purchases=counts[:, _PURCHASE],
        cancels=counts[:, _CANCEL],
        spend=np.array([s.spend_total for s in states], np.float64),
        decayed=decayed.reshape(len(states), DECAYED_SIZE),
    )


def history_of_columns(columns: StateColumns, rows: npt.NDArray[np.int64]) -> History:
    """`history_of_states` of rows of `StateColumns` (the same numbers, one array per field)."""
    counts = columns.type_counts[rows].astype(np.float64)
    decayed = columns.decayed[rows]
    for i in np.flatnonzero(~columns.has_decayed[rows]).tolist():  # written before they were kept
        state = columns.state(int(rows[i]))
        decayed[i] = (decayed_counts(state) if state is not None else ()) or 0.0
    first = np.nan_to_num(columns.first[rows], nan=0.0)
    last = np.nan_to_num(columns.last[rows], nan=0.0)
    return History(
        span_days=(last - first) / SECONDS_PER_DAY,
        events=columns.events[rows].astype(np.float64),
        purchases=counts[:, _PURCHASE],
        cancels=counts[:, _CANCEL],
        spend=columns.spend[rows],
        decayed=decayed,
    )


def history_of_log(ts_seconds: F64, event_type: I64, spend_delta: F64, starts: I64) -> History:
    """The `History` of every user of a log sorted by (user, time), at their last event.

    `spend_delta` is `stream_app.model.features.spend_deltas` of the log: what the worker sums.
    """
    ts = np.asarray(ts_seconds, np.float64)
    kind = np.asarray(event_type, np.int64)
    lengths = np.diff(starts)
    users = len(lengths)
    user = np.repeat(np.arange(users), lengths)
    last = ts[starts[1:] - 1] if users else np.zeros(0)
    age_days = (last[user] - ts) / SECONDS_PER_DAY
    weights = np.exp(-age_days[:, None] / np.asarray(DECAY_SCALES_DAYS))  # (E, S)
    decayed = np.zeros((users, len(EVENT_TYPES), len(DECAY_SCALES_DAYS)))
    np.add.at(decayed, (user, kind), weights)
    per_type = np.zeros((users, len(EVENT_TYPES)))
    np.add.at(per_type, (user, kind), 1.0)
    spend = np.zeros(users)
    np.add.at(spend, user, np.asarray(spend_delta, np.float64))
    return History(
        span_days=(last - ts[starts[:-1]]) / SECONDS_PER_DAY if users else np.zeros(0),
        events=lengths.astype(np.float64),
        purchases=per_type[:, _PURCHASE],
        cancels=per_type[:, _CANCEL],
        spend=spend,
        decayed=decayed.reshape(users, DECAYED_SIZE),
    )
