"""The online intercept correction moves towards the observed return rate, bounded."""

from __future__ import annotations

import math

import pytest

from stream_app.state.outcomes import AlertTally, AlertTallyKey
from stream_app.worker.calibration_drift import OnlineCalibration, logit, version_tally
from stream_app.worker.outcome_totals import OutcomeTotals, PartitionTotals


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
