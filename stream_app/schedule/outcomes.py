"""Alerts as predictions: opened when an alert fires, counted when H has passed since.

Pure functions over `UserState`; the worker writes the state they return, so an outcome is
counted in the same changelog message that closes its prediction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace

from stream_app.events.alert import Alert
from stream_app.events.schema import EventType
from stream_app.state import UserState
from stream_app.state.outcomes import (
    ActionTallyKey,
    AlertTally,
    AlertTallyKey,
    OpenPrediction,
    Outcomes,
)
from stream_app.state.size_bounds import MAX_ALERT_TALLIES, MAX_OPEN_PREDICTIONS

#: Schedule level of a prediction's deadline (alert levels are 1..3).
OUTCOME_DUE = 0
#: Model versions whose tallies a user keeps apart; older ones are counted as `OLDER_VERSIONS`.
MAX_VERSIONS_PER_USER = MAX_ALERT_TALLIES // (3 * 10)
OLDER_VERSIONS = "older"
PROBABILITY_BUCKETS = 10


def counts_as_return(event_type: EventType) -> bool:
    """Whether an event of this type means the user came back (a cancellation does not)."""
    return event_type is not EventType.CANCEL


def probability_bucket(probability: float) -> str:
    """Lower edge of the predicted probability's tenth: `0.0` … `0.9`."""
    index = min(max(int(probability * PROBABILITY_BUCKETS), 0), PROBABILITY_BUCKETS - 1)
    return f"{index / PROBABILITY_BUCKETS:.1f}"


def open_predictions(
    state: UserState,
    alerts: Sequence[Alert],
    actions: Sequence[Sequence[tuple[str, bool]]],
    now_seconds: float,
    horizon_seconds: float,
) -> UserState:
    """The state with one open prediction per alert (with the actions decided for it).

    Returned predictions still waiting for their horizon are counted at once, oldest first,
    where more than `MAX_OPEN_PREDICTIONS` would be open (a user alerted again within H of a
    return): the state stays bounded, at the price of those few counting early.
    """
    opened = tuple(
        OpenPrediction(
            level=alert.level,
            probability=alert.return_probability,
            model_version=alert.model_version,
            emitted_seconds=now_seconds,
            deadline_seconds=now_seconds + horizon_seconds,
            actions=tuple(kinds),
        )
        for alert, kinds in zip(alerts, actions, strict=True)
    )
    predictions = (*state.predictions, *opened)
    excess = len(predictions) - MAX_OPEN_PREDICTIONS
    if excess <= 0:
        return replace(state, predictions=predictions)
    waiting = sorted(
        (p for p in predictions if p.returned_seconds is not None), key=lambda p: p.deadline_seconds
    )
    early = set(map(id, waiting[:excess]))
    outcomes = tally(state.outcomes, ((p, True) for p in waiting[:excess]))
    kept = tuple(p for p in predictions if id(p) not in early)
    return replace(state, predictions=kept, outcomes=outcomes)


def resolve_on_return(state: UserState, returned_seconds: float) -> UserState:
    """The user came back at `returned_seconds`: note the return on every open prediction.

    A prediction whose deadline passed before the return is counted as not returned now; the
    others stay open until their deadline (`resolve_due` counts them as returned then), so a
    return is counted when a non-return at the same horizon would be.
    """
    if all(p.returned_seconds is not None for p in state.predictions):
        return state
    late = [
        p
        for p in state.predictions
        if p.returned_seconds is None and p.deadline_seconds < returned_seconds
    ]
    still_open = tuple(
        p if p.returned_seconds is not None else replace(p, returned_seconds=returned_seconds)
        for p in state.predictions
        if p.returned_seconds is not None or p.deadline_seconds >= returned_seconds
    )
    outcomes = tally(state.outcomes, ((p, False) for p in late)) if late else state.outcomes
    return replace(state, predictions=still_open, outcomes=outcomes)


def resolve_due(state: UserState, now_seconds: float) -> UserState:
    """Predictions whose deadline has passed by `now_seconds` are counted: returned or not."""
    due = [p for p in state.predictions if p.deadline_seconds <= now_seconds]
    if not due:
        return state
    still_open = tuple(p for p in state.predictions if p.deadline_seconds > now_seconds)
    outcomes = tally(state.outcomes, ((p, p.returned_seconds is not None) for p in due))
    return replace(state, predictions=still_open, outcomes=outcomes)


def next_deadline(state: UserState) -> float | None:
    """When the first open prediction is counted (None: nothing open)."""
    return min((p.deadline_seconds for p in state.predictions), default=None)


def tally(outcomes: Outcomes, resolved: Iterable[tuple[OpenPrediction, bool]]) -> Outcomes:
    """`outcomes` with each (prediction, returned) added to its alert and action tallies."""
    alerts = dict(outcomes.alerts)
    actions = dict(outcomes.actions)
    current: set[str] = set()
    for prediction, returned in resolved:
        current.add(prediction.model_version)
        key = AlertTallyKey(
            prediction.level,
            prediction.model_version,
            probability_bucket(prediction.probability),
        )
        alerts[key] = alerts.get(key, AlertTally()).add(prediction.probability, returned)
        for kind, control in prediction.actions:
            action_key = ActionTallyKey(kind, control)
            count, came_back = actions.get(action_key, (0, 0))
            actions[action_key] = (count + 1, came_back + int(returned))
    return Outcomes(
        alerts=tuple(sorted(fold_old_versions(alerts, current).items())),
        actions=tuple(sorted(actions.items())),
    )


def fold_old_versions(
    alerts: dict[AlertTallyKey, AlertTally],
    current: Collection[str] = (),
    keep: int = MAX_VERSIONS_PER_USER,
) -> dict[AlertTallyKey, AlertTally]:
    """At most `keep` versions apart: `current` ones first, then those with most predictions.

    The others are merged under `OLDER_VERSIONS`, which keeps a state's size bounded however
    many models have served the user.
    """
    counts: dict[str, int] = {}
    for key, value in alerts.items():
        if key.model_version != OLDER_VERSIONS:
            counts[key.model_version] = counts.get(key.model_version, 0) + value.predictions
    if len(counts) < keep:
        return alerts
    ranked = sorted(counts, key=lambda v: (v not in current, -counts[v], v))
    kept = set(ranked[: keep - 1])
    folded: dict[AlertTallyKey, AlertTally] = {}
    for key, value in alerts.items():
        if key.model_version not in kept:
            key = AlertTallyKey(key.level, OLDER_VERSIONS, key.probability_bucket)
        folded[key] = folded.get(key, AlertTally()).plus(value)
    return folded
