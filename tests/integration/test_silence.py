"""Alerts in silence on the real broker, with an accelerated clock shared by test and worker."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter

import numpy as np
import pytest
from jsonschema import Draft202012Validator

from stream_app.commands.replay import encode_event
from stream_app.events.alert import alert_id
from stream_app.events.schema import Event, EventType, utc_from_seconds
from stream_app.kafka.clients import new_producer
from stream_app.schedule.levels import (
    AlertLevel,
    due_times,
    probability_after_silence,
)
from stream_app.settings import Settings
from stream_app.state import UserState
from tests.integration.support import (
    ALERT_SCHEMA,
    DAY,
    FACTOR,
    THRESHOLDS,
    TICK_SECONDS,
    WorkerFactory,
    covering_alerts,
    decay_model,
    read_alerts,
    silent_retail,
    sim_seconds,
    table,
)
from tests.offline_model import STEP_GRAPH

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not STEP_GRAPH.exists(), reason="no committed model in models/"),
]

# Tick topic round trip and alert delivery, in wall seconds; generous for a loaded 2-core CI box.
LATENCY_SECONDS = 3.0


def expected_schedule(states: dict[str, UserState]) -> dict[str, list[tuple[AlertLevel, float]]]:
    decay = decay_model()
    return {
        user: due_times(s, decay, THRESHOLDS) for user, s in states.items() if s.model is not None
    }


def test_quiet_users_are_alerted_on_time_exactly_once(
    settings: Settings, workers: WorkerFactory
) -> None:
    settings, clock, _ = silent_retail(settings, workers, timeout_seconds=60)
    start = clock.start
    caught_up_sim = clock.now()
    assert caught_up_sim < start, (
        "worker too slow to start: the silence began before the data was in"
    )
    states = table(settings)
    schedule = expected_schedule(states)

    # One user comes back before their next level falls due: that level must not fire for the old episode.
    returning, pending = next(
        (u, [lv for lv, t in due if t > start + 5 * DAY])
        for u, due in sorted(schedule.items())
        if any(t > start + 5 * DAY for _, t in due)
    )
    while clock.now() < start + 2 * DAY:
        time.sleep(0.05)
    comeback = Event(
        returning,
        utc_from_seconds(clock.now()),
        EventType.PURCHASE,
        "85123A",
        "HOL",
        10.0,
        "comeback-1",
    )
    producer = new_producer(settings.bootstrap_servers)
    key, value = encode_event(comeback)
    producer.send(settings.events_topic, key=key, value=value).get(timeout=10)
    producer.close()

    horizon_end = start + 100 * DAY
    time.sleep(max(clock.wall_at(horizon_end) - time.time(), 0) + 2)

    def uncovered(alerts: list[dict[str, object]]) -> bool:
        """Whether a level due well inside the window is neither published nor skipped yet."""
        return any(
            level.label not in covering_alerts(alerts, user, states[user].last_event_seconds)
            for user, due in schedule.items()
            if user != returning
            for level, due_at in due
            if due_at <= horizon_end - 5 * DAY
        )

    # Progress, not time: every due level is awaited (how late each came is checked below).
    deadline = time.monotonic() + 120
    while uncovered(alerts := read_alerts(settings)) and time.monotonic() < deadline:
        time.sleep(1.0)

    ids = Counter(a["alert_id"] for a in alerts)
    assert ids and max(ids.values()) == 1, "an alert was emitted twice"
    old_episode = states[returning].last_event_seconds
    assert old_episode is not None
    for level in pending:
        assert alert_id(returning, level.label, old_episode) not in ids, (
            "alert for a user who came back"
        )

    checked = 0
    for user, due in schedule.items():
        if user == returning:
            continue
        episode = states[user].last_event_seconds
        covering = covering_alerts(alerts, user, episode)
        published = {str(a["level"]) for a in covering.values()}
        skipped = {s for a in covering.values() for s in a["skipped_levels"]}  # type: ignore[attr-defined]
        assert not published & skipped, "a level was both published and skipped"
        for level, due_at in due:
            if due_at > horizon_end - 5 * DAY:
                continue
            alert = covering.get(level.label)
            assert alert is not None, (
                f"{level.label} missing (due {(due_at - start) / DAY:.1f} days into the silence)"
            )
            if level.label in skipped:
                assert alert["level"] != level.label
                continue
            assert alert["alert_id"] == alert_id(user, level.label, episode or 0.0)
            if due_at > caught_up_sim:  # scheduled ahead of time: must fire within one tick
                late_wall = (sim_seconds(alert["emitted_at"]) - due_at) / FACTOR
                assert -0.05 <= late_wall <= TICK_SECONDS + LATENCY_SECONDS, (level, late_wall)
                checked += 1
            relative = float(alert["relative_probability"])  # type: ignore[arg-type]
            assert relative <= THRESHOLDS.of(level) + 1e-6
    print(f"{len(alerts)} alerts, {checked} checked for punctuality")
    assert checked >= 10, f"only {checked} alerts were due inside the observed window"
    validator = Draft202012Validator(json.loads(ALERT_SCHEMA.read_text()))
    for alert in alerts:
        validator.validate(alert)


def test_restarted_worker_still_emits_a_scheduled_alert_once(
    settings: Settings, workers: WorkerFactory
) -> None:
    settings, clock, first = silent_retail(settings, workers, "first", timeout_seconds=60)
    start = clock.start
    schedule = expected_schedule(table(settings))
    kill_at = start + 30 * DAY  # before the first due times (about 40 days into the silence)
    later = [
        (u, lv, t)
        for u, due in schedule.items()
        for lv, t in due
        if kill_at + 3 * DAY < t < start + 60 * DAY
    ]
    assert later, "no alert due after the kill: nothing to prove"
    while clock.now() < kill_at:
        time.sleep(0.05)
    first.stop(signal.SIGKILL)  # between scheduling and the due times
    workers.start(
        settings.model_copy(update={"data_dir": settings.data_dir.parent / "second"}), "second"
    )
    time.sleep(max(clock.wall_at(start + 65 * DAY) - time.time(), 0) + 2)
    states = table(settings)

    def uncovered(alerts: list[dict[str, object]]) -> list[tuple[str, AlertLevel]]:
        """Levels due after the kill that no alert published or named as skipped."""
        return [
            (user, level)
            for user, level, _ in later
            if level.label
            not in covering_alerts(alerts, user, states[user].last_event_seconds or 0.0)
        ]

    # Progress, not time: a restarted worker on a loaded machine may be late, never silent.
    deadline = time.monotonic() + 120
    while uncovered(alerts := read_alerts(settings)) and time.monotonic() < deadline:
        time.sleep(1.0)
    assert not uncovered(alerts), uncovered(alerts)[:5]
    ids = Counter(a["alert_id"] for a in alerts)
    for user, level, _ in later:
        episode = states[user].last_event_seconds or 0.0
        covering = covering_alerts(alerts, user, episode)[level.label]
        assert ids[str(covering["alert_id"])] == 1, (user, level)
    assert np.all(
        np.array(list(ids.values())) <= 2
    )  # only alerts in flight at the kill may repeat (same id)
    _ = probability_after_silence  # the same survival math as the worker
