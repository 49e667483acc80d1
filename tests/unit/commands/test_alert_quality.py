"""Alert and action quality tables from simulation records and the events."""

from __future__ import annotations

import math

import pytest

from stream_app.commands.alert_quality import (
    ActionRecord,
    AlertRecord,
    Reference,
    ReturnTimes,
    format_levels,
    format_uplift,
    level_quality,
    uplift,
)
from stream_app.events.schema import Event, EventType, utc_from_seconds

DAY = 86_400.0
H = 30 * DAY


def event(user: str, day: float, kind: EventType = EventType.PURCHASE) -> Event:
    return Event(user, utc_from_seconds(day * DAY), kind, "item")


EVENTS = [
    event("a", 0), event("a", 10), event("a", 50),  # back 10 d after its alert at day 40
    event("b", 0), event("b", 45, EventType.CANCEL),  # a cancellation is no return
    event("c", 0), event("c", 20),
    event("z", 200),  # the data runs to day 200
]  # fmt: skip


def test_alerts_are_scored_by_who_came_back_within_the_horizon() -> None:
    alerts = [
        AlertRecord("a", "warning", 40 * DAY, 30 * DAY, 10 * DAY),
        AlertRecord("b", "warning", 40 * DAY, 40 * DAY, None),
        AlertRecord("c", "warning", 190 * DAY, 170 * DAY, 20 * DAY),  # horizon beyond the data
    ]
    refs = [Reference(5 * DAY, ("a", "b", "c")), Reference(180 * DAY, ("a",))]
    (row,) = level_quality(alerts, refs, ReturnTimes(EVENTS), H)
    assert (row.level, row.alerts) == ("warning", 2)
    assert row.returned_share == 0.5 and row.one_time_share == 0.5
    assert row.median_silence_days == 35.0 and row.median_silence_over_gap == 3.0
    assert row.reference_returned_share == pytest.approx(2 / 3)  # a and c came back after day 5
    assert "warning" in format_levels([row], 30.0)


def test_uplift_compares_treated_with_control_with_an_interval() -> None:
    actions = [
        ActionRecord("a", "coupon", False, 40 * DAY),
        ActionRecord("c", "coupon", False, 5 * DAY),
        ActionRecord("b", "coupon", True, 40 * DAY),
        ActionRecord("a", "push", False, 40 * DAY),  # no control: no row
    ]
    (row,) = uplift(actions, ReturnTimes(EVENTS), H)
    assert (row.kind, row.treated, row.control) == ("coupon", 2, 1)
    assert row.treated_return_rate == 1.0 and row.control_return_rate == 0.0
    assert row.uplift == 1.0 and row.uplift_low <= 1.0 <= row.uplift_high
    assert not math.isnan(row.uplift_low)
    assert "coupon" in format_uplift([row], 30.0)
