"""A batched step's outputs as per-user model states, and a user's state as the step's input."""

from __future__ import annotations

from dataclasses import fields

from stream_app.model.features import PreviousEvent
from stream_app.model.runtime import StepOutput, TopOutput
from stream_app.state import ModelState, UserState
from stream_app.state.model_state import TopBuckets


def previous_event(state: UserState | None) -> PreviousEvent | None:
    """What the features need of the user's previous event (None for a new user)."""
    if state is None or state.last_event_seconds is None:
        return None
    return PreviousEvent(
        ts_seconds=state.last_event_seconds,
        events_total=state.events_total,
        first_ts_seconds=state.first_event_seconds,
        spend_total=state.spend_total,
    )


def model_state(version: str, out: StepOutput, row: int, top: TopOutput | None) -> ModelState:
    """One user's model state from row `row` of a batched step's output, with the top buckets
    of `top`'s row (None: without)."""
    window = slice(row, row + 1)
    rows = StepOutput(*(getattr(out, f.name)[window] for f in fields(out)))
    top_rows = None if top is None else TopOutput(top.weights[window], top.ids[window])
    return model_states(version, rows, top_rows)[0]


def model_states(version: str, out: StepOutput, top: TopOutput | None) -> list[ModelState]:
    """Every row's model state of a batched step's output: rows of the output's arrays (views,
    no float object per number), with the top buckets' ids and weights of each row of `top`
    (None: the states carry none)."""
    rows = zip(out.h, out.c, out.mu, out.alpha, out.beta, strict=True)
    if top is None:
        return [ModelState(version, h, c, mu, alpha, beta) for h, c, mu, alpha, beta in rows]
    weights = top.weights.reshape(len(top.weights), -1)
    tops = [TopBuckets(ids, w) for ids, w in zip(top.ids.tolist(), weights, strict=True)]
    return [
        ModelState(version, h, c, mu, alpha, beta, buckets)
        for (h, c, mu, alpha, beta), buckets in zip(rows, tops, strict=True)
    ]
