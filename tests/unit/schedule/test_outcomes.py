"""Alerts as predictions: opened, resolved by a return or by the horizon, tallied in the state."""

from __future__ import annotations

import pytest

from stream_app.events.alert import Alert
from stream_app.events.schema import EventType
from stream_app.schedule.outcomes import (
    OLDER_VERSIONS,
    counts_as_return,
    fold_old_versions,
    next_deadline,
    open_predictions,
    probability_bucket,
    resolve_due,
    resolve_on_return,
)
from stream_app.state import UserState, decode_state, encode_state
from stream_app.state.outcomes import ActionTallyKey, AlertTally, AlertTallyKey
from stream_app.state.size_bounds import MAX_OPEN_PREDICTIONS

DAY = 86_400.0
H = 30 * DAY


def alert(level: str, p: float, version: str = "v1") -> Alert:
    return Alert("id", "u", level, p, 30.0, 0.0, "", [], version, "")


def alerted(now: float = 100 * DAY) -> UserState:
    state = UserState(events_total=3, last_event_seconds=50 * DAY, alert_level=2)
    alerts = [alert("warning", 0.31), alert("at_risk", 0.18)]
    actions = [[("push", False)], [("coupon", True), ("push", False)]]
    return open_predictions(state, alerts, actions, now, H)


def test_an_alert_opens_a_prediction_until_the_horizon() -> None:
    state = alerted()
    assert [(p.level, p.probability) for p in state.predictions] == [
        ("warning", 0.31),
        ("at_risk", 0.18),
    ]
    assert next_deadline(state) == 130 * DAY


def test_a_return_within_the_horizon_is_counted_as_returned_once_the_horizon_passed() -> None:
    back = resolve_on_return(alerted(), 110 * DAY)
    assert back.outcomes == alerted().outcomes  # nothing counted yet: H has not passed
    assert [p.returned_seconds for p in back.predictions] == [110 * DAY, 110 * DAY]
    assert next_deadline(back) == 130 * DAY
    assert resolve_on_return(back, 115 * DAY) is back  # the first return is the one noted
    assert resolve_due(back, 129 * DAY) is back
    state = resolve_due(back, 130 * DAY)
    assert state.predictions == () and next_deadline(state) is None
    tallies = dict(state.outcomes.alerts)
    assert tallies[AlertTallyKey("warning", "v1", "0.3")] == AlertTally(1, 1, 0.31, 0.69**2)
    assert tallies[AlertTallyKey("at_risk", "v1", "0.1")].returned == 1
    actions = dict(state.outcomes.actions)
    assert actions == {
        ActionTallyKey("coupon", True): (1, 1),
        ActionTallyKey("push", False): (2, 2),
    }


def test_a_return_after_the_horizon_counts_as_not_returned() -> None:
    state = resolve_on_return(alerted(), 131 * DAY)
    assert state.predictions == ()
    assert all(t.returned == 0 and t.predictions == 1 for _, t in state.outcomes.alerts)


def test_an_alert_again_within_h_of_a_return_keeps_the_state_bounded() -> None:
    state = resolve_on_return(alerted(), 101 * DAY)
    for day in (102, 103):
        state = open_predictions(state, [alert("warning", 0.3)], [[]], day * DAY, H)
        state = resolve_on_return(state, (day + 0.5) * DAY)
    assert len(state.predictions) == 4 and not state.outcomes
    three = [alert("warning", 0.3), alert("at_risk", 0.2), alert("critical", 0.1)]
    state = open_predictions(state, three, [[], [], []], 104 * DAY, H)
    assert len(state.predictions) == MAX_OPEN_PREDICTIONS
    assert sum(t.returned for _, t in state.outcomes.alerts) == 1  # the oldest returned one


def test_the_horizon_passing_in_silence_resolves_as_not_returned() -> None:
    state = alerted()
    assert resolve_due(state, 129 * DAY) is state  # not yet
    resolved = resolve_due(state, 130 * DAY)
    assert resolved.predictions == ()
    assert sum(t.predictions for _, t in resolved.outcomes.alerts) == 2
    assert sum(t.returned for _, t in resolved.outcomes.alerts) == 0
    assert resolve_on_return(resolved, 131 * DAY) is resolved  # nothing left to resolve


def test_tallies_accumulate_over_episodes() -> None:
    once = resolve_due(resolve_on_return(alerted(), 110 * DAY), 130 * DAY)
    twice = resolve_due(open_predictions(once, [alert("warning", 0.33)], [[]], 200 * DAY, H), 1e9)
    warning = dict(twice.outcomes.alerts)[AlertTallyKey("warning", "v1", "0.3")]
    assert warning == AlertTally(2, 1, 0.31 + 0.33, 0.69**2 + 0.33**2)


def test_predictions_and_tallies_survive_the_state_codec() -> None:
    opened = alerted()
    back = resolve_on_return(opened, 110 * DAY)
    for state in (opened, back, resolve_due(back, 130 * DAY)):
        assert decode_state(encode_state(state)) == state


def test_a_state_without_predictions_encodes_as_before() -> None:
    raw = encode_state(UserState(events_total=1, last_event_seconds=1.0))
    assert b'"pred"' not in raw and b'"outc"' not in raw


@pytest.mark.parametrize(
    ("p", "bucket"), [(0.0, "0.0"), (0.099, "0.0"), (0.1, "0.1"), (0.95, "0.9"), (1.0, "0.9")]
)
def test_probability_buckets_are_tenths(p: float, bucket: str) -> None:
    assert probability_bucket(p) == bucket


def test_a_cancellation_is_not_a_return() -> None:
    assert not counts_as_return(EventType.CANCEL)
    assert counts_as_return(EventType.VIEW) and counts_as_return(EventType.PURCHASE)


def test_old_model_versions_fold_into_one_label() -> None:
    tallies = {
        AlertTallyKey("warning", f"v{i}", "0.1"): AlertTally(10 - i, 0, 0.1, 0.01) for i in range(6)
    }
    folded = fold_old_versions(tallies, {"v5"}, keep=4)
    assert {k.model_version for k in folded} == {"v5", "v0", "v1", OLDER_VERSIONS}
    assert folded[AlertTallyKey("warning", OLDER_VERSIONS, "0.1")].predictions == 8 + 7 + 6
    assert sum(t.predictions for t in folded.values()) == sum(10 - i for i in range(6))
