import itertools
import math

import numpy as np
import pytest

from stream_app.events.alert import alert_id
from stream_app.model.covariates import COVARIATE_NAMES
from stream_app.model.survival import Calibration
from stream_app.schedule.alerts import alerts_due, top_categories
from stream_app.schedule.due_schedule import DueSchedule
from stream_app.schedule.levels import (
    AlertLevel,
    DecayModel,
    Thresholds,
    crossing_days,
    due_times,
    due_times_batch,
    level_reached,
    peak_probabilities,
    probability_after_silence,
)
from stream_app.state import ModelState, UserState
from stream_app.state.user_state import DECAYED_SIZE

DAY = 86_400.0
DECAY = DecayModel(horizon_days=30.0, calibration=Calibration())
T = Thresholds(0.5, 0.3, 0.15, min_silence_gaps=(0.0, 0.0, 0.0))


def silent(m: ModelState, last: float = 1000.0, **fields: object) -> UserState:
    """A user whose last event was at `last`, with model state `m`."""
    return UserState(events_total=1, last_event_seconds=last, model=m, **fields)  # type: ignore[arg-type]


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
    ps = [probability_after_silence(silent(m), DECAY, d * DAY) for d in (0, 1, 10, 100, 1000)]
    assert all(a > b for a, b in itertools.pairwise(ps))
    floor = 1 - math.exp(-30 * 0.002)
    assert ps[-1] == pytest.approx(floor, abs=1e-6)


def test_due_times_hit_the_shares_of_the_peak() -> None:
    m = model()
    peak = probability_after_silence(
        silent(m), DECAY, 0.0
    )  # a decaying head peaks right after the event
    assert peak_probabilities([silent(m)], DECAY)[0] == pytest.approx(peak)
    due = due_times(silent(m), DECAY, T)
    assert [lv for lv, _ in due] == [AlertLevel.WARNING, AlertLevel.AT_RISK, AlertLevel.CRITICAL]
    for level, t in due:
        p = probability_after_silence(silent(m), DECAY, t - 1000.0)
        assert p / peak == pytest.approx(T.of(level), abs=1e-6)
    assert [t for _, t in due] == sorted(t for _, t in due)


def test_levels_already_reached_and_unreachable_levels_are_not_scheduled() -> None:
    high_floor = model(mu=0.05)  # floor 1 - exp(-3) ≈ 0.95 of a peak < 1: never half of it
    assert due_times(silent(high_floor), DECAY, T) == []
    reached = due_times(silent(model(), alert_level=2), DECAY, T)
    assert [lv for lv, _ in reached] == [AlertLevel.CRITICAL]


def test_a_level_waits_for_the_users_usual_gap() -> None:
    m = model()
    loyal = UserState(
        events_total=5, first_event_seconds=0.0, last_event_seconds=400 * DAY, model=m
    )
    floors = Thresholds(0.5, 0.3, 0.15, min_silence_gaps=(1.0, 1.5, 2.0))
    gap = 100 * DAY  # 4 gaps over 400 days
    due = dict(due_times(loyal, DECAY, floors))
    unfloored = dict(due_times(loyal, DECAY, T))
    for level, gaps in zip(AlertLevel, (1.0, 1.5, 2.0), strict=True):
        assert due[level] == max(unfloored[level], 400 * DAY + gaps * gap)
    one_event = dict(due_times(silent(m, 0.0), DECAY, floors))  # the prior gap: 30 days
    assert one_event[AlertLevel.WARNING] >= 30 * DAY


def test_a_head_that_rises_after_the_event_is_alerted_only_after_its_peak() -> None:
    # a negative kernel on top of a slow one: P dips right after the event, peaks, then decays
    dip = ModelState("v", (0.0,), (0.0,), (0.0005, 0.0005), (0.05, -0.049), (0.005, 0.03))
    thresholds = Thresholds(0.7, 0.5, 0.3, min_silence_gaps=(0.0, 0.0, 0.0))
    p0 = probability_after_silence(silent(dip), DECAY, 0.0)
    peak = peak_probabilities([silent(dip)], DECAY)[0]
    assert p0 < thresholds.warning * peak  # below the warning share right after the event
    peak_days = max(
        np.linspace(0, 200, 2001),
        key=lambda d: probability_after_silence(silent(dip), DECAY, d * DAY),
    )
    (_, warning_at), *_ = due_times(silent(dip, 0.0), DECAY, thresholds)
    assert warning_at / DAY > peak_days  # the crossing after the peak, not the dip before it
    ratio = probability_after_silence(silent(dip), DECAY, warning_at) / peak
    assert ratio == pytest.approx(thresholds.warning, abs=1e-6)


def test_level_reached_is_the_highest_level_due() -> None:
    state = silent(model())
    due = due_times(state, DECAY, T)
    assert level_reached(state, DECAY, T, 999.0) == 0
    assert level_reached(state, DECAY, T, due[0][1]) == 1
    assert level_reached(state, DECAY, T, due[2][1] + 1) == 3


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


def test_one_alert_carries_the_highest_level_reached_and_names_the_skipped_ones() -> None:
    m = model()
    state = UserState(events_total=3, last_event_seconds=1000.0, model=m)
    due = due_times(state, DECAY, T)
    alerts, reached = alerts_due("u1", state, DECAY, T, due[0][1], {7: "shoes", 9: "bags"})
    assert (reached, [a.level for a in alerts], alerts[0].skipped_levels) == (1, ["warning"], [])
    assert alerts[0].alert_id == alert_id("u1", "warning", 1000.0)
    assert alerts[0].top_categories[0] in {"shoes", "bags"}
    assert alerts[0].relative_probability == pytest.approx(T.warning, abs=1e-5)
    late = due[-1][1] + 1
    (backlog,), reached = alerts_due("u1", state, DECAY, T, late, {})
    assert (reached, backlog.level, backlog.skipped_levels) == (
        3,
        "critical",
        ["warning", "at_risk"],
    )
    assert backlog.alert_id == alert_id("u1", "critical", 1000.0)
    after_warning = UserState(events_total=3, last_event_seconds=1000.0, model=m, alert_level=1)
    (rest,), _ = alerts_due("u1", after_warning, DECAY, T, late, {})
    assert (rest.level, rest.skipped_levels) == ("critical", ["at_risk"])
    again, _ = alerts_due(
        "u1", UserState(last_event_seconds=1000.0, model=m, alert_level=3), DECAY, T, late, {}
    )
    assert again == []


def test_an_alert_matches_its_schema() -> None:
    import json
    from pathlib import Path

    from jsonschema import Draft202012Validator

    schema = Path(__file__).resolve().parents[3] / "stream_app" / "schemas" / "alert.v2.json"
    state = UserState(events_total=3, last_event_seconds=1000.0, model=model())
    (alert,), _ = alerts_due("u1", state, DECAY, T, 1e9, {})
    Draft202012Validator(json.loads(schema.read_text())).validate(json.loads(alert.to_json()))


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
    peak = probability_after_silence(silent(m), calibrated, 0.0)
    for level, t in due_times(silent(m, 0.0), calibrated, T):
        ratio = probability_after_silence(silent(m), calibrated, t) / peak
        assert ratio == pytest.approx(T.of(level), abs=1e-6)
    assert np.isfinite(probability_after_silence(silent(m), calibrated, 0.0))


def test_a_gamma_head_is_due_after_its_peak_never_in_the_dip_after_the_event() -> None:
    gamma = DecayModel(horizon_days=30.0, calibration=Calibration(), kernel_shapes=(0, 4))
    m = ModelState("v", (0.0,), (0.0,), (1e-4, 4e-4), (1e-3, 0.05), (0.5, 0.02))
    p0 = probability_after_silence(silent(m), gamma, 0.0)
    peak = peak_probabilities([silent(m)], gamma)[0]
    assert p0 < T.warning * peak  # low in the dip right after the event, yet not due there
    due = due_times(silent(m), gamma, T)
    assert due and due[0][1] - 1000.0 > 150 * DAY  # the dip before the ~200-day peak is skipped
    for level, t in due:
        ratio = probability_after_silence(silent(m), gamma, t - 1000.0) / peak
        assert ratio == pytest.approx(T.of(level), abs=1e-6)


def test_heads_stored_by_another_model_version_keep_the_exponential_reading() -> None:
    gamma = DecayModel(30.0, Calibration(), kernel_shapes=(0, 4), model_version="3.0+new")
    mine = ModelState("3.0+new", (0.0,), (0.0,), (1e-4, 4e-4), (1e-3, 0.05), (0.5, 0.02))
    old = ModelState("2.0+old", (0.0,), (0.0,), (1e-4, 4e-4), (1e-3, 0.05), (0.5, 0.02))
    assert gamma.shape_for(mine) is not None and gamma.shape_for(old) is None
    exponential = DecayModel(30.0, Calibration())
    both = due_times_batch([silent(mine), silent(old)], gamma, T)
    assert both[0] == due_times(silent(mine), gamma, T)
    assert both[1] == due_times(silent(old), exponential, T)


def test_compact_drops_stale_entries_once_the_heaps_have_doubled() -> None:
    schedule = DueSchedule()
    users = [f"u{i}".encode() for i in range(2000)]
    three_levels = [(1, 10.0), (2, 20.0), (3, 30.0)]
    for key in users:
        schedule.replace_user(key, 0, 1.0, three_levels)
    schedule.compact()  # 6000 entries, all live: kept, and the next walk waits for 12,000
    assert len(schedule) == 6000 and schedule.compacted_size == 6000
    heap = schedule.heaps[0]
    for key in users:  # every user came back: half the entries are stale, not yet twice as many
        schedule.replace_user(key, 0, 2.0, three_levels)
    schedule.compact()
    assert schedule.heaps[0] is heap and len(schedule) == 12_000
    for key in users:  # once more: 18,000 entries, 6000 live
        schedule.replace_user(key, 0, 3.0, three_levels)
    schedule.compact()
    assert len(schedule) == 6000 and {e.episode for e in schedule.entries(0)} == {3.0}
    assert len(schedule.pop_due(15.0)) == 2000 and len(schedule) == 4000
    schedule.forget_user(users[0])
    assert [e.user_key for e in schedule.pop_due(25.0)] == sorted(users[1:])
    schedule.drop_partitions({0})  # the level-3 entries left: their users are forgotten
    assert len(schedule) == 0 and schedule.live_episode == {}


def test_entries_added_to_a_live_episode_keep_the_ones_scheduled() -> None:
    schedule = DueSchedule()
    schedule.replace_user(b"a", 0, 1.0, [(2, 20.0), (3, 30.0)])
    schedule.add_entries(b"a", 0, 1.0, [(0, 25.0)])  # an outcome deadline in the same silence
    assert [(e.level, e.due_seconds) for e in schedule.pop_due(40.0)] == [
        (2, 20.0),
        (0, 25.0),
        (3, 30.0),
    ]
    schedule.add_entries(b"a", 0, 2.0, [(1, 50.0)])  # a new silence: as replace_user
    assert schedule.live_episode[b"a"] == 2.0
    schedule.replace_user(b"a", 0, 2.0, [(2, 60.0)])  # the same silence scheduled anew
    assert [(e.level, e.due_seconds) for e in schedule.pop_due(70.0)] == [(1, 50.0), (2, 60.0)]


def test_covariates_in_the_calibration_move_p_and_due_times_follow_it() -> None:
    weights = [0.0] * len(COVARIATE_NAMES)
    weights[COVARIATE_NAMES.index("log1p_tau_over_gap")] = -0.8  # a long silence lowers P
    weights[COVARIATE_NAMES.index("log1p_events")] = 0.5
    with_covariates = DecayModel(30.0, Calibration(1.1, -0.1, tuple(weights)))
    state = UserState(
        events_total=4,
        first_event_seconds=0.0,
        last_event_seconds=30 * DAY,
        model=model(),
        decayed=(0.0,) * DECAYED_SIZE,
    )
    plain = probability_after_silence(state, DecayModel(30.0, Calibration(1.1, -0.1)), 5 * DAY)
    p = probability_after_silence(state, with_covariates, 5 * DAY)
    z = math.log(plain / (1 - plain)) - 0.8 * math.log1p(5 / 10) + 0.5 * math.log1p(4)
    assert p == pytest.approx(1 / (1 + math.exp(-z)), rel=1e-9)
    peak = peak_probabilities([state], with_covariates)[0]
    due = due_times(state, with_covariates, T)
    assert [lv for lv, _ in due] == list(AlertLevel)
    for level, t in due:
        silence = t - 30 * DAY
        ratio = probability_after_silence(state, with_covariates, silence) / peak
        assert ratio == pytest.approx(T.of(level), abs=1e-6)


def test_no_users_give_no_peaks_and_no_crossings_with_covariates() -> None:
    with_covariates = DecayModel(30.0, Calibration(1.0, 0.0, (0.1,) * len(COVARIATE_NAMES)))
    assert peak_probabilities([], with_covariates).shape == (0,)
    assert crossing_days([], with_covariates, [0.5]).shape == (0, 1)
    assert due_times_batch([], with_covariates, T) == []
