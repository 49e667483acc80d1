"""The online intercept correction moves towards the observed return rate, bounded."""

from __future__ import annotations

import math

import pytest

from stream_app.state import UserState
from stream_app.state.outcomes import ActionTallyKey, AlertTally, AlertTallyKey, Outcomes
from stream_app.worker.calibration_drift import OnlineCalibration, logit, version_tally
from stream_app.worker.outcome_totals import OutcomeTotals, PartitionTotals, UpliftMoments
from tests.outcome_streams import DAY, VERSION, OutcomeStream, hourly_totals


def test_a_window_returning_twice_the_predicted_rate_shifts_the_intercept_up() -> None:
    online = OnlineCalibration(max_shift=3.0, min_predictions=100)
    shift = online.update((200, 100, 50.0))  # predicted 0.25, observed 0.5
    assert shift == pytest.approx(logit(0.5) - logit(0.25))
    p = 1 / (1 + math.exp(-(logit(0.25) + online.shift)))
    assert p == pytest.approx(0.5)


def test_the_shift_is_bounded_and_waits_for_enough_outcomes() -> None:
    online = OnlineCalibration(max_shift=0.5, min_predictions=100)
    assert online.update((99, 99, 1.0)) is None  # too few
    assert online.update((200, 190, 20.0)) == 0.5
    assert online.update((400, 390, 40.0)) is None  # already at the bound


def test_a_calibrated_window_leaves_it_alone() -> None:
    online = OnlineCalibration(max_shift=0.5, min_predictions=10)
    assert online.update((100, 25, 25.0)) is None and online.shift == 0.0


def test_windows_start_after_a_restart() -> None:
    online = OnlineCalibration(max_shift=3.0, min_predictions=100)
    online.restart((1000, 100, 500.0))
    assert online.update((1050, 120, 520.0)) is None  # 50 new outcomes only


def test_the_tally_of_a_version_sums_every_partition() -> None:
    totals = OutcomeTotals()
    for partition in (0, 3):
        totals.partitions[partition] = PartitionTotals(
            alerts={
                AlertTallyKey("warning", "v2", "0.2"): AlertTally(10, 4, 2.5, 1.0),
                AlertTallyKey("warning", "v1", "0.2"): AlertTally(5, 1, 1.0, 1.0),
            }
        )
    assert version_tally(totals, "v2") == (20, 8, 5.0)


def corrections(stream: OutcomeStream, online: OnlineCalibration) -> list[tuple[float, float]]:
    """(hour, new shift) of every move of the online correction, looking once an hour."""
    moves = []
    clock = [0.0]
    online.clock, online.horizon_seconds = (lambda: clock[0]), 30 * DAY
    for clock[0], totals in hourly_totals(stream):
        now = clock[0]
        shift = online.update(version_tally(totals, VERSION))
        if shift is not None:
            moves.append((now / DAY, shift))
    return moves


def test_the_first_h_days_after_a_deployment_count_nothing_and_correct_nothing() -> None:
    # 4 of every 16 alerted users come back 5 days later (P = 0.25, calibrated): returns are
    # known from day 5 on, the non-returns only from day 30; nothing may be counted before.
    stream = OutcomeStream(hours=30 * 24, returning=0.25)
    online = OnlineCalibration(max_shift=0.5, min_predictions=200)
    assert corrections(stream, online) == [] and online.shift == 0.0
    *_, (_, totals) = hourly_totals(stream)
    assert version_tally(totals, VERSION) == (0, 0, 0.0)


def test_counted_predictions_are_those_whose_horizon_passed() -> None:
    *_, (_, totals) = hourly_totals(OutcomeStream(hours=40 * 24, returning=0.25))
    n, returned, predicted = version_tally(totals, VERSION)
    assert n == 10 * 24 * 16  # the alerts of days 0-10, whose H has passed
    assert returned == n // 4 and predicted == pytest.approx(0.25 * n)


def test_a_calibrated_stream_gets_no_correction_after_h_either() -> None:
    online = OnlineCalibration(max_shift=0.5, min_predictions=200)
    assert corrections(OutcomeStream(hours=40 * 24, returning=0.25), online) == []


def test_a_real_shift_is_corrected_once_its_horizon_passed() -> None:
    online = OnlineCalibration(max_shift=3.0, min_predictions=200)
    moves = corrections(OutcomeStream(hours=40 * 24, returning=0.5), online)
    first_day, shift = moves[0]
    assert 30 < first_day < 32
    assert shift == pytest.approx(logit(0.5) - logit(0.25))
    # The alerts served since were served with the old intercept in this literal stream: the
    # correction waits for H after its move instead of adding the same gap again every window.
    assert [s for _, s in moves] == [shift]


def test_the_uplift_moments_follow_each_users_tally() -> None:
    key = ActionTallyKey("push", False)
    totals = OutcomeTotals()
    first = UserState(events_total=1, outcomes=Outcomes(actions=((key, (1, 0)),)))
    totals.update(0, None, first)
    later = UserState(events_total=2, outcomes=Outcomes(actions=((key, (3, 2)),)))
    totals.update(0, first, later)  # the same user: still one cluster
    other = UserState(events_total=1, outcomes=Outcomes(actions=((key, (2, 2)),)))
    totals.update(0, None, other)
    moments = totals.partitions[0].uplift[key]
    assert moments == UpliftMoments(
        users=2,
        actions=5,
        returned=4,
        actions_sq=9 + 4,
        returned_sq=4 + 4,
        returned_x_actions=6 + 4,
    )
    totals.rebuild([(0, later), (0, other)])
    assert totals.partitions[0].uplift[key] == moments
