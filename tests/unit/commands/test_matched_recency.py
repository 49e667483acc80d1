"""Alerts against the recency rule at the same silences, and against the users not alerted."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from stream_app.commands.alert_quality import (
    ActionRecord,
    AlertRecord,
    ReturnTimes,
    format_placebo,
    placebo_uplift,
    uplift,
)
from stream_app.commands.matched_recency import format_matched, matched_recency
from stream_app.commands.training_window import overlap_note, training_end
from stream_app.events.schema import Event, EventType, utc_from_seconds

DAY = 86_400.0
H = 30 * DAY


def event(user: str, day: float) -> Event:
    return Event(user, utc_from_seconds(day * DAY), EventType.PURCHASE, "item")


# a and b: one order on day 0, alerted at a silence of 10 d, never back. c and d: silent from
# day 0 too, back on day 15 (within H of their 10th silent day), silent again after. z: the
# data runs to day 200.
EVENTS = [event(u, 0) for u in "abcd"] + [event("c", 15), event("d", 15), event("z", 200)]
ALERTS = [AlertRecord(u, "warning", 10 * DAY, 10 * DAY, None) for u in "ab"]


def test_the_alerts_are_compared_at_their_own_silences() -> None:
    (row,) = matched_recency(ALERTS, ReturnTimes(EVENTS), H)
    assert (row.level, row.alerts, row.users, row.returned_share) == ("warning", 2, 2, 0.0)
    # at a silence of 10 d: a, b (not back), c and d on day 10 (back on 15) and on day 25 (not)
    assert row.recency_share == pytest.approx(2 / 6)
    # the same without a's and b's moments, alerted at that silence
    assert row.not_alerted_share == pytest.approx(2 / 4)
    low, high = row.not_alerted_diff_interval
    assert low <= -0.5 <= high
    assert "warning" in format_matched([row], 30.0)


def test_an_out_of_sample_window_scores_only_what_lies_in_it() -> None:
    assert matched_recency(ALERTS, ReturnTimes(EVENTS), H, start_seconds=11 * DAY) == []
    late = [AlertRecord("c", "warning", 25 * DAY, 10 * DAY, 15 * DAY)]
    (row,) = matched_recency(late, ReturnTimes(EVENTS), H, start_seconds=11 * DAY)
    # from day 11 on only c's and d's second silences are 10 d long (day 25): neither is back
    assert row.recency_share == 0.0 and row.returned_share == 0.0


def test_a_level_that_sorts_no_better_than_recency_shows_a_zero_difference() -> None:
    users = [f"u{i}" for i in range(40)]
    events = [event(u, 0) for u in users]
    events += [event(u, 20) for u in users[::2]] + [event("z", 200)]
    alerts = [AlertRecord(u, "at_risk", 10 * DAY, 10 * DAY, None) for u in users[:20]]
    (row,) = matched_recency(alerts, ReturnTimes(events), H)
    assert row.returned_share == pytest.approx(0.5)
    assert row.recency_share == pytest.approx(20 / 60)  # day 10 of 40 users, day 30 of 20
    low, high = row.recency_diff_interval
    assert low < row.returned_share - row.recency_share < high


def test_the_placebo_check_draws_the_control_group_again_per_salt() -> None:
    users = [f"u{i}" for i in range(200)]
    events = [event(u, 0) for u in users] + [event(u, 20) for u in users[::3]]
    events.append(event("z", 200))
    actions = [ActionRecord(u, "push", i % 10 == 0, 10 * DAY) for i, u in enumerate(users)]
    returns = ReturnTimes(events)
    spreads = placebo_uplift(actions, returns, H, 0.1, ["s1", "s2", "s3"])
    assert len(spreads["push"]) == 3
    assert len(set(spreads["push"])) > 1  # each salt another control group
    assert all(abs(d) < 0.5 for d in spreads["push"])
    assert "push" in format_placebo(spreads, 30.0)
    (row,) = uplift(actions, returns, H)
    assert not math.isnan(row.uplift)


def test_the_command_says_when_the_model_was_trained_on_the_replayed_window(
    tmp_path: Path,
) -> None:
    model = tmp_path / "decay_step.onnx"
    split = {"latest_labelled_cutoff": "2011-03-29T00:00:00+00:00", "horizon_days": 30.0}
    (tmp_path / "metrics.json").write_text(json.dumps({"split": split}))
    end = training_end(model)
    assert end is not None and end.isoformat() == "2011-04-28T00:00:00+00:00"
    may = utc_from_seconds(0).replace(year=2011, month=5, day=1).timestamp()
    assert overlap_note(model, may).startswith("out of sample")
    assert overlap_note(model, may - 10 * DAY).startswith("IN SAMPLE")
    assert "unknown" in overlap_note(tmp_path / "elsewhere" / "m.onnx", may)
