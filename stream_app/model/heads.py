"""A batched step's outputs as per-user model states, and a user's state as the step's input."""

from __future__ import annotations

from stream_app.model.features import PreviousEvent
from stream_app.model.runtime import StepOutput
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


def model_state(version: str, out: StepOutput, row: int) -> ModelState:
    """One user's model state from row `row` of a batched step's output."""
    return model_states(version, _rows(out, row))[0]


def model_states(version: str, out: StepOutput) -> list[ModelState]:
    """Every row's model state of a batched step's output: rows of the output's arrays (views,
    no float object per number), with the top buckets' ids and weights of each row."""
    weights = out.top_weights.reshape(len(out.top_weights), -1)
    columns = zip(out.h, out.c, out.mu, out.alpha, out.beta, out.top_ids.tolist(), weights,
                  strict=True)  # fmt: skip
    return [
        ModelState(version, h, c, mu, alpha, beta, TopBuckets(buckets, w))
        for h, c, mu, alpha, beta, buckets, w in columns
    ]


def _rows(out: StepOutput, row: int) -> StepOutput:
    window = slice(row, row + 1)
    return StepOutput(
        out.h[window],
        out.c[window],
        out.mu[window],
        out.alpha[window],
        out.beta[window],
        out.top_weights[window],
        out.top_ids[window],
    )
