"""Shared by the fault tests: a paced replay of real events, and the uninterrupted outcome.

Each fault test replays the same real slice while it breaks something (kill -9, a rebalance, a
broker restart), then checks the result against what an uninterrupted worker produces, computed
offline: the per-user state (counts, sequence, LSTM state), every alert and every action. The
policy has no gate that depends on timing (no cooldown, a budget that never binds, no quiet
hours, no migration), so the actions of an uninterrupted run follow from its alerts alone.
"""

from __future__ import annotations

import itertools
import threading
import time
import tomllib
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
from kafka.errors import KafkaError

from stream_app.commands.replay import encode_event
from stream_app.data.sources import load_events
from stream_app.events.alert import alert_id
from stream_app.events.decode import DecodeLimits, decode_event
from stream_app.events.schema import Event
from stream_app.kafka.clients import KafkaConnectError, ensure_topic, new_admin, new_producer
from stream_app.kafka.reading import read_topic, wait_caught_up
from stream_app.schedule.levels import due_times
from stream_app.settings import Settings
from stream_app.state import ModelState, UserState, apply_event
from tests.integration.support import (
    DAY,
    TEST_POLICY,
    THRESHOLDS,
    SimClock,
    WorkerFactory,
    WorkerProcess,
    decay_model,
    expected_action_id,
    kinds_for,
    read_alerts,
    sim_seconds,
    table,
    tier_of,
)
from tests.offline_model import SequenceGraph

FACTOR = 4 * DAY
EVENTS = 3_000
RATE_PER_SECOND = 100  # the replay lasts ~30 s: time for the faults
HORIZON_DAYS = 40.0


def edited(text: str, *replacements: tuple[str, str]) -> str:
    """`text` with each (old, new) replaced; a ValueError when an `old` is not in it (the
    policy it edits changed, and the edit would silently do nothing)."""
    for old, new in replacements:
        if old not in text:
            raise ValueError(f"not in the policy: {old!r}")
        text = text.replace(old, new)
    return text


# The integration test's policy without its timing-dependent gates, and without coupons: the
# coupon budget lives in memory and starts empty after a restart (see the README's Guarantees).
FAULT_POLICY = edited(
    TEST_POLICY,
    (', "coupon"]', "]"),
    ('vip = "coupon"', 'vip = "push"'),
    ("re_recommend = 60", "re_recommend = 0"),
    ("push = 45", "push = 0"),
    ("coupon = 90", "coupon = 0"),
    ("budget_capacity = 4", "budget_capacity = 1e9"),
    ('kinds = ["push"]', "kinds = []"),
    ("enabled = true", "enabled = false"),
)


def fault_setup(settings: Settings, shared_data: Path) -> tuple[Settings, list[Event], SimClock]:
    """The real slice, an accelerated clock that stays before the data until the replay is
    over, and settings for quick failure detection."""
    events = list(load_events("online-retail", shared_data))[:EVENTS]
    last_ts = max(e.ts_seconds for e in events)
    clock = SimClock(start=last_ts + DAY, anchor=time.time() + 75)
    policy_path = settings.data_dir.parent / "fault-policy.toml"
    policy_path.parent.mkdir(parents=True, exist_ok=True)
    policy_path.write_text(FAULT_POLICY)
    settings = settings.model_copy(
        update={
            "clock_start_seconds": clock.start,
            "clock_anchor_seconds": clock.anchor,
            "clock_factor": FACTOR,
            "schedule_tick_seconds": 0.2,
            "max_future_skew_seconds": 3650 * DAY,
            "commit_interval_seconds": 0.3,
            "session_timeout_seconds": 6.0,
            "heartbeat_interval_seconds": 1.0,
            "policy_path": policy_path,
        }
    )
    assert settings.bootstrap_servers
    ensure_topic(settings.bootstrap_servers, settings.events_topic, settings.partitions)
    return settings, events, clock


def paced_replay(settings: Settings, events: list[Event], done: threading.Event) -> None:
    """Produce `events` at RATE_PER_SECOND, then set `done`."""
    assert settings.bootstrap_servers
    producer = new_producer(settings.bootstrap_servers)
    for i in range(0, len(events), RATE_PER_SECOND // 5):
        for event in events[i : i + RATE_PER_SECOND // 5]:
            key, value = encode_event(event)
            producer.send(settings.events_topic, key=key, value=value)
        producer.flush()
        time.sleep(0.2)
    producer.close()
    done.set()


class PausingReplay:
    """A paced replay in a thread that waits at each of `pauses` (event indices) until resumed:
    a fault comes while events still arrive, however slow the machine."""

    def __init__(self, settings: Settings, events: list[Event], pauses: list[int]) -> None:
        self.settings, self.events, self.pauses = settings, events, sorted(pauses)
        self._resumed = threading.Semaphore(0)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def resume(self) -> None:
        """Let the replay go on past its next pause."""
        self._resumed.release()

    def join(self) -> None:
        """Resume every pause left and wait for the end of the replay."""
        for _ in self.pauses:
            self.resume()
        self._thread.join()

    def _run(self) -> None:
        bounds = [0, *self.pauses, len(self.events)]
        for n, (start, end) in enumerate(itertools.pairwise(bounds)):
            if n:
                self._resumed.acquire()
            paced_replay(self.settings, self.events[start:end], threading.Event())


def slow_clock(settings: Settings) -> Settings:
    """Real time, 400 days before the data (within the future-skew limit): workers with this
    clock never reach the data, however long the faults take."""
    return settings.model_copy(
        update={"clock_factor": 1.0, "clock_anchor_seconds": time.time() + 400 * DAY}
    )


def start_alerting_worker(
    settings: Settings, workers: WorkerFactory, name: str
) -> tuple[WorkerProcess, SimClock]:
    """A worker on the accelerated clock, started once every event is committed: it publishes
    the alerts, and its clock cannot run ahead of the processing."""
    clock = SimClock(start=settings.clock_start_seconds or 0.0, anchor=time.time() + 15)
    fast = settings.model_copy(
        update={
            "clock_factor": FACTOR,
            "clock_anchor_seconds": clock.anchor,
            "data_dir": settings.data_dir.parent / name,
        }
    )
    return workers.start(fast, name), clock


def committed_total(settings: Settings) -> int:
    """Offsets of the events topic committed by the worker's group, summed over partitions."""
    assert settings.bootstrap_servers
    try:
        admin = new_admin(settings.bootstrap_servers)
    except KafkaConnectError:  # the broker restarts
        return 0
    try:
        offsets = admin.list_group_offsets({settings.app_id: None}).get(settings.app_id, {})
    except KafkaError:  # coordinator loading, group rebalancing: no progress known yet
        return 0
    finally:
        admin.close()
    return sum(
        max(meta.offset, 0) for tp, meta in offsets.items() if tp.topic == settings.events_topic
    )


def wait_committed(settings: Settings, at_least: int, timeout_seconds: float = 300.0) -> int:
    """Block until the group has committed `at_least` events: progress, not time, decides."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        committed = committed_total(settings)
        if committed >= at_least:
            return committed
        time.sleep(0.1)
    raise TimeoutError(f"{settings.app_id} committed fewer than {at_least} events")


def produce(settings: Settings, events: list[Event]) -> None:
    """Produce `events` in order, acknowledged 20 at a time as `paced_replay` does (one batch in
    flight per partition: a retried batch cannot overtake a later one), without pauses."""
    assert settings.bootstrap_servers
    producer = new_producer(settings.bootstrap_servers)
    for i in range(0, len(events), RATE_PER_SECOND // 5):
        for event in events[i : i + RATE_PER_SECOND // 5]:
            key, value = encode_event(event)
            producer.send(settings.events_topic, key=key, value=value)
        producer.flush()
    producer.close()


def events_by_user_as_stored(settings: Settings) -> dict[str, list[Event]]:
    """Each user's events in the order of the events topic: what an uninterrupted worker sees.

    The expected outcome follows the stored order, as the worker must, whatever order the test
    sent them in.
    """
    assert settings.bootstrap_servers
    limits = DecodeLimits(now_seconds=4e9, max_future_skew_seconds=4e9, min_event_epoch_seconds=0)
    by_user: dict[str, list[Event]] = {}
    records = read_topic(settings.bootstrap_servers, settings.events_topic, timeout_seconds=60)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        event = decode_event(record.key, record.value, limits)
        assert isinstance(event, Event), event
        by_user.setdefault(event.user_id, []).append(event)
    return by_user


def expected_alerts(by_user: dict[str, list[Event]]) -> dict[str, tuple[str, str, float]]:
    """alert_id → (user, level, due time) of every alert an uninterrupted worker publishes, ever."""
    graph, decay = SequenceGraph(), decay_model()
    expected = {}
    for user, events in by_user.items():
        final = graph.final_state(events)
        head = ModelState("offline", (), (), tuple(final.mu), tuple(final.alpha), tuple(final.beta))
        folded: UserState | None = None
        for offset, event in enumerate(events):  # the worker's pure state path, in log order
            folded, _ = apply_event(folded, event, offset, len(events))
        assert folded is not None and folded.last_event_seconds is not None
        state, last = replace(folded, model=head), folded.last_event_seconds
        for level, due in due_times(state, decay, THRESHOLDS):
            expected[alert_id(user, level.label, last)] = (user, level.label, due)
    return expected


def expected_actions(
    alerts: dict[str, tuple[str, str, float]], states: dict[str, UserState]
) -> dict[str, float]:
    """action_id → due time of every action FAULT_POLICY attaches to `alerts`."""
    policy = tomllib.loads(FAULT_POLICY)
    actions = {}
    for alert, (user, level, due) in alerts.items():
        for kind in kinds_for(policy, level, tier_of(states[user], policy["tiers"])):
            actions[expected_action_id(user, kind, alert)] = due
    return actions


def wait_published(
    settings: Settings,
    topics: tuple[str, ...],
    due: dict[str, float],
    horizon: float,
    client_config: dict[str, object] | None,
    timeout_seconds: float = 180.0,
) -> None:
    """Until every id due before `horizon` is covered on `topics` (or the timeout: the check
    then fails)."""
    expected = {i for i, t in due.items() if t < horizon}
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if expected <= covered_ids(read_topics(settings, client_config, topics)):
            return
        time.sleep(1.0)


def read_topics(
    settings: Settings, client_config: dict[str, object] | None, topics: tuple[str, ...]
) -> list[dict[str, object]]:
    """Every record body of `topics`, one topic after the other."""
    return [body for topic in topics for body in read_alerts(settings, client_config, topic)]


def action_topics(settings: Settings) -> tuple[str, ...]:
    """Where actions go: the actions to take, and the control group's records."""
    return (settings.actions_topic, settings.control_actions_topic)


def covered_ids(bodies: list[dict[str, object]]) -> set[str]:
    """Ids published, and for alerts the ids of the levels a published alert names as skipped
    (reached together with a higher one, not published alone)."""
    if bodies and "action_id" in bodies[0]:
        return {str(b["action_id"]) for b in bodies}
    return {str(b["alert_id"]) for b in bodies} | {
        alert_id(str(b["user_id"]), str(level), sim_seconds(b["last_event_at"]))
        for b in bodies
        for level in b["skipped_levels"]  # type: ignore[attr-defined]
    }


def assert_same_as_uninterrupted(
    settings: Settings,
    events: list[Event],
    clock: SimClock,
    *,
    exactly_once: bool = False,
    processed_first: bool = False,
) -> None:
    """State, dead letters, alerts and actions equal an uninterrupted run's (repeats only with
    the same id; with `exactly_once`, read committed, no repeated alert or action at all).

    `processed_first`: every event was processed before the clock's worker started, so the
    clock is known to have stayed before the data; the alerts are then awaited (progress)
    rather than expected by a wall-clock time.
    """
    assert settings.bootstrap_servers
    committed: dict[str, object] | None = (
        {"isolation_level": "read_committed"} if exactly_once else None
    )
    wait_caught_up(
        settings.bootstrap_servers, settings.app_id, settings.events_topic, timeout_seconds=120
    )
    first_ts = events[0].ts_seconds
    if not processed_first:
        assert clock.now() < first_ts, "simulated time reached the data before it was processed"

    by_user = events_by_user_as_stored(settings)
    assert sorted(e.item_id for u in by_user.values() for e in u) == sorted(
        e.item_id for e in events
    ), "the events topic holds other events than the replay sent"
    horizon = clock.start + HORIZON_DAYS * DAY
    time.sleep(max(clock.wall_at(horizon + 5 * DAY) - time.time(), 0) + 2)
    alerts = expected_alerts(by_user)
    # Progress, not time: until every alert due is out (a loaded machine can be late).
    alert_due = {i: t for i, (_, _, t) in alerts.items()}
    wait_published(settings, (settings.alerts_topic,), alert_due, horizon, committed)

    # State: exactly the uninterrupted result — counts, sequence, and the model state itself
    # (an event applied twice or lost would change h and c).
    states = table(settings, committed)
    letters = list(
        read_topic(
            settings.bootstrap_servers,
            settings.dead_letter_topic,
            timeout_seconds=5,
            client_config=committed,
        )
    )
    assert not letters, [dict(x.headers) for x in letters][:5]
    missing_users = set(by_user) - set(states)
    assert not missing_users, (
        f"{len(missing_users)} of {len(by_user)} users have no state: {sorted(missing_users)[:5]}"
    )
    assert set(states) == set(by_user)
    graph = SequenceGraph()
    for user, user_events in by_user.items():
        state = states[user]
        assert state.events_total == len(user_events), (user, state.events_total, len(user_events))
        recent = [e.item_id for e in user_events][-settings.sequence_length :]
        assert [r.item_id for r in state.recent] == recent, user
        assert state.model is not None
        offline = graph.final_state(user_events)
        assert np.max(np.abs(np.array(state.model.h) - offline.h)) < 1e-4, user

    # Alerts and actions: every one of an uninterrupted run, repeats only with the same id.
    # A level reached together with a higher one is named in that alert, not published alone;
    # actions follow the alerts published.
    # Simulated time goes on while the test reads: what is published after a read, due after
    # `horizon`, is neither awaited nor missing, but must be what an uninterrupted run publishes.
    bodies = read_alerts(settings, committed)
    emitted = Counter(str(a["alert_id"]) for a in bodies)
    action_due = expected_actions({i: alerts[i] for i in emitted if i in alerts}, states)
    any_action_due = expected_actions(alerts, states)
    wait_published(settings, action_topics(settings), action_due, horizon, committed)
    actions = read_topics(settings, committed, action_topics(settings))
    sent = Counter(str(a["action_id"]) for a in actions)
    read_until = clock.now()
    for name, published, due, possible, covered in (
        ("alerts", emitted, alert_due, alert_due, covered_ids(bodies)),
        ("actions", sent, action_due, any_action_due, covered_ids(actions)),
    ):
        expected = {i for i, t in due.items() if t < horizon}
        missing = expected - covered
        assert not missing, f"{len(missing)} of {len(expected)} {name} missing"
        unexpected = {i for i in published if i not in possible or possible[i] > read_until}
        assert not unexpected, f"{len(unexpected)} {name} no uninterrupted run would publish"
        assert len(expected) > 100, name
        if exactly_once:
            repeated = [i for i, n in published.items() if n > 1]
            assert not repeated, f"{len(repeated)} {name} published more than once"
