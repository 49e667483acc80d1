"""The JSON rows of a state's variable parts (open predictions, outcome tallies, action times),
shared by every state format that has them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stream_app.state.model_state import ModelState
from stream_app.state.outcomes import (
    ActionTallyKey,
    AlertTally,
    AlertTallyKey,
    OpenPrediction,
    Outcomes,
)
from stream_app.state.ring import RecentEvent
from stream_app.state.user_state import UserState


def extras_body(
    action_times: Sequence[tuple[str, float]],
    predictions: Sequence[OpenPrediction],
    outcomes: Outcomes,
) -> dict[str, Any]:
    """A state's action times, open predictions and outcomes; only those it has."""
    body: dict[str, Any] = {}
    if action_times:
        body["acts"] = dict(action_times)
    if predictions:
        body["pred"] = [prediction_row(p) for p in predictions]
    if outcomes:
        body["outc"] = outcome_rows(outcomes)
    return body


def action_times_of(body: dict[str, Any]) -> tuple[tuple[str, float], ...]:
    """Action kind → last time, sorted by kind."""
    return tuple(sorted((str(k), float(v)) for k, v in body.get("acts", {}).items()))


def predictions_of(body: dict[str, Any]) -> tuple[OpenPrediction, ...]:
    """The open predictions of a body."""
    return tuple(prediction_of(row) for row in body.get("pred", ()))


def state_from_body(
    body: dict[str, Any], model: ModelState | None, recent: Sequence[RecentEvent]
) -> UserState:
    """A state of the JSON formats (2 to 4): every counter in the body."""
    return UserState(
        events_total=body["n"],
        type_counts=tuple(body["types"]),
        spend_total=body["spend"],
        first_event_seconds=body["first"],
        last_event_seconds=body["last"],
        last_offset=body["off"],
        last_tick_offset=body["tick_off"],
        alert_level=body["alert"],
        action_times=action_times_of(body),
        model=model,
        recent=recent,
        predictions=predictions_of(body),
        outcomes=outcomes_of(body.get("outc")),
    )


def prediction_row(p: OpenPrediction) -> list[Any]:
    """An open prediction as a JSON row."""
    return [
        p.level,
        p.probability,
        p.model_version,
        p.emitted_seconds,
        p.deadline_seconds,
        [[kind, control] for kind, control in p.actions],
        *(() if p.returned_seconds is None else (p.returned_seconds,)),
    ]


def prediction_of(row: list[Any]) -> OpenPrediction:
    """Inverse of `prediction_row`."""
    level, probability, version, emitted, deadline, actions, *returned = row
    kinds = tuple((k, bool(c)) for k, c in actions)
    return OpenPrediction(level, probability, version, emitted, deadline, kinds, *returned)


def outcome_rows(outcomes: Outcomes) -> dict[str, list[list[Any]]]:
    """The outcome tallies as JSON rows."""
    return {
        "a": [
            [k.level, k.model_version, k.probability_bucket, v.predictions, v.returned,
             v.probability_sum, v.squared_error_sum]
            for k, v in outcomes.alerts
        ],
        "u": [[k.kind, k.control, n, r] for k, (n, r) in outcomes.actions],
    }  # fmt: skip


def outcomes_of(body: dict[str, list[list[Any]]] | None) -> Outcomes:
    """Inverse of `outcome_rows` (empty tallies for None)."""
    if not body:
        return Outcomes()
    return Outcomes(
        alerts=tuple(
            (AlertTallyKey(level, version, bucket), AlertTally(n, r, ps, se))
            for level, version, bucket, n, r, ps, se in body["a"]
        ),
        actions=tuple(
            (ActionTallyKey(kind, bool(control)), (n, r)) for kind, control, n, r in body["u"]
        ),
    )
