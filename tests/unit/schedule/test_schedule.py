import itertools
import math

import numpy as np
import pytest

from stream_app.events.alert import alert_id
from stream_app.model.survival import Calibration
from stream_app.schedule.alerts import alerts_due, top_categories
from stream_app.schedule.due_schedule import DueSchedule
from stream_app.schedule.levels import (
    AlertLevel,
    DecayModel,
    Thresholds,
    due_times,
    due_times_batch,
    level_at,
    probability_after_silence,
)
from stream_app.state import ModelState, UserState

DAY = 86_400.0
DECAY = DecayModel(horizon_days=30.0, calibration=Calibration())
T = Thresholds(0.5, 0.3, 0.15)


def model(mu: float = 0.001, alpha: float = 0.2, beta: float = 0.1) -> ModelState:
    return ModelState(
        "v1",
        (0.0,),
        (0.0,),
        (mu, mu),
        (alpha, alpha / 2),
        (beta, beta * 3),
        (((7, 0.6), (9, 0.4)), ((9, 0.9), (7, 0.1))),
    )


def test_probability_falls_to_the_floor() -> None:
    m = model()
    ps = [probability_after_silence(m, DECAY, d * DAY) for d in (0, 1, 10, 100, 1000)]
    assert all(a > b for a, b in itertools.pairwise(ps))
    floor = 1 - math.exp(-30 * 0.002)
    assert ps[-1] == pytest.approx(floor, abs=1e-6)


def test_due_times_hit_the_thresholds() -> None:
    m = model()
    due = due_times(m, DECAY, T, last_event_seconds=1000.0, reached=0)
    assert [lv for lv, _ in due] == [AlertLevel.WARNING, AlertLevel.AT_RISK, AlertLevel.CRITICAL]
    for level, t in due:
        p = probability_after_silence(m, DECAY, t - 1000.0)
        assert p == pytest.approx(T.of(level), abs=1e-6)
    assert [t for _, t in due] == sorted(t for _, t in due)


def test_levels_already_reached_and_unreachable_levels_are_not_scheduled() -> None:
    high_floor = model(mu=0.05)  # floor 1 - exp(-3) ≈ 0.95: never below 0.5
    assert due_times(high_floor, DECAY, T, 0.0, 0) == []
    assert [lv for lv, _ in due_times(model(), DECAY, T, 0.0, reached=2)] == [AlertLevel.CRITICAL]


def test_level_at() -> None:
    assert [level_at(p, T) for p in (0.9, 0.5, 0.31, 0.3, 0.2, 0.15, 0.01)] == [0, 1, 1, 2, 2, 3, 3]


def test_bad_thresholds_are_refused() -> None:
    with pytest.raises(ValueError):
        Thresholds(0.3, 0.5, 0.1)


def test_schedule_pops_only_live_entries_in_time_order() -> None:
    schedule = DueSchedule()
    schedule.replace_user(b"a", 0, 1.0, [(1, 10.0), (2, 20.0)])
    schedule.replace_user(b"b", 1, 1.0, [(1, 5.0)])
    schedule.replace_user(b"a", 0, 2.0, [(1, 30.0)])  # a came back: the old episode is dead
    assert [(e.user_key, e.level) for e in schedule.pop_due(25.0)] == [(b"b", 1)]
    assert [(e.user_key, e.episode) for e in schedule.pop_due(30.0)] == [(b"a", 2.0)]
    schedule.drop_partitions({0})
    assert schedule.pop_due(1e9) == []


def test_alerts_climb_levels_once_with_deterministic_ids() -> None:
    m = model()
    state = UserState(events_total=3, last_event_seconds=1000.0, model=m)
    late = due_times(m, DECAY, T, 1000.0, 0)[-1][1] + 1
    alerts, reached = alerts_due("u1", state, DECAY, T, late, {7: "shoes", 9: "bags"})
    assert reached == 3
    assert [a.level for a in alerts] == ["warning", "at_risk", "critical"]
    assert alerts[0].alert_id == alert_id("u1", "warning", 1000.0)
    assert alerts[0].top_categories[0] in {"shoes", "bags"}
    again, _ = alerts_due(
        "u1", UserState(last_event_seconds=1000.0, model=m, alert_level=3), DECAY, T, late, {}
    )
    assert again == []


def test_category_ranking_drifts_to_slow_components() -> None:
    # component 0 fast (beta 5/day) likes 7; component 1 slow (beta 0.01) likes 9
    m = ModelState(
        "v", (0.0,), (0.0,), (0.0, 0.0), (1.0, 0.3), (5.0, 0.01), (((7, 1.0),), ((9, 1.0),))
    )
    assert top_categories(m, 0.0, {})[0] == "bucket-7"
    assert top_categories(m, 3 * DAY, {})[0] == "bucket-9"


def test_calibration_keeps_due_times_consistent() -> None:
    calibrated = DecayModel(30.0, Calibration(a=1.3, b=-0.2))
    m = model()
    for level, t in due_times(m, calibrated, T, 0.0, 0):
        assert probability_after_silence(m, calibrated, t) == pytest.approx(T.of(level), abs=1e-6)
    assert np.isfinite(probability_after_silence(m, calibrated, 0.0))


def test_peaking_head_is_due_after_its_peak_never_on_the_day_of_the_event() -> None:
    gamma = DecayModel(horizon_days=30.0, calibration=Calibration(), kernel_shapes=(0, 4))
    m = ModelState("v", (0.0,), (0.0,), (1e-4, 4e-4), (1e-3, 0.05), (0.5, 0.02))
    due = due_times(m, gamma, T, 1000.0, 0)
    assert due and due[0][1] - 1000.0 > 150 * DAY  # the dip before the ~200-day peak is skipped
    peak = max(probability_after_silence(m, gamma, d * DAY) for d in range(400))
    for level, t in due:
        p = probability_after_silence(m, gamma, t - 1000.0)
        if peak > T.of(level):  # a crossing after the peak
            assert p == pytest.approx(T.of(level), abs=1e-6)
        else:  # the peak never reaches the level: due at the peak, not in the dip
            assert p <= T.of(level)
    assert probability_after_silence(m, gamma, 0.0) < T.warning  # low in the dip, yet not due


def test_heads_stored_by_another_model_version_keep_the_exponential_reading() -> None:
    gamma = DecayModel(30.0, Calibration(), kernel_shapes=(0, 4), model_version="3.0+new")
    mine = ModelState("3.0+new", (0.0,), (0.0,), (1e-4, 4e-4), (1e-3, 0.05), (0.5, 0.02))
    old = ModelState("2.0+old", (0.0,), (0.0,), (1e-4, 4e-4), (1e-3, 0.05), (0.5, 0.02))
    assert gamma.shape_for(mine) is not None and gamma.shape_for(old) is None
    exponential = DecayModel(30.0, Calibration())
    both = due_times_batch([mine, old], gamma, T, [1000.0, 1000.0], [0, 0])
    assert both[0] == due_times(mine, gamma, T, 1000.0, 0)
    assert both[1] == due_times(old, exponential, T, 1000.0, 0)
