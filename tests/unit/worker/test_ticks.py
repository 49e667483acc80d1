"""Ticks: a due tick alerts once, a stale or repeated tick does nothing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from stream_app.clock import AcceleratedClock
from stream_app.events.alert import Alert
from stream_app.events.partitioning import partition_for_key
from stream_app.events.tick import Tick
from stream_app.policy import BudgetState, load_policy, parse_policy
from stream_app.policy.records import Action
from stream_app.schedule.due_schedule import DueSchedule
from stream_app.schedule.levels import Thresholds, due_times
from stream_app.schedule.outcomes import OUTCOME_DUE
from stream_app.state import ModelState, UserState, decode_state, encode_state
from stream_app.worker.activation import Activation
from stream_app.worker.metrics import Metrics
from stream_app.worker.pipeline import SourcePosition
from stream_app.worker.serving import ServingModel
from stream_app.worker.ticks import TickHandler, emit_due_ticks, rebuild_schedule
from tests.offline_model import STEP_GRAPH
from tests.unit.policy.builders import RULES_POLICY

pytestmark = pytest.mark.skipif(not STEP_GRAPH.exists(), reason="no committed model in models/")
HEAD = ModelState(
    "v", (0.0,), (0.0,), (0.001, 0.001), (0.2, 0.1), (0.1, 0.3), (((5, 1.0),), ((6, 1.0),))
)


def handler(
    store: dict[bytes, bytes], sent: list[Alert], now: float, tmp_path: Path
) -> TickHandler:
    async def send(alert: Alert, source: SourcePosition) -> None:
        sent.append(alert)

    model = ServingModel(STEP_GRAPH, Metrics(), prefer_cuda=False)
    model.load()
    return TickHandler(
        store,
        send,
        AcceleratedClock(now, 0.0),
        model.metrics,
        model,
        Thresholds(),
        {},
        DueSchedule(),
    )


async def test_due_tick_alerts_once_and_stale_ticks_do_nothing(tmp_path: Path) -> None:
    store = {b"u1": encode_state(UserState(events_total=1, last_event_seconds=1000.0, model=HEAD))}
    sent: list[Alert] = []
    late = 1000.0 + 400 * 86_400
    h = handler(store, sent, late, tmp_path)
    tick = Tick("u1", 1000.0, 1, 2000.0).to_json()
    await h.handle(b"u1", tick, SourcePosition("ticks", 0, 7))
    assert [(a.level, a.skipped_levels) for a in sent] == [("critical", ["warning", "at_risk"])]
    assert decode_state(store[b"u1"]).alert_level == 3
    await h.handle(b"u1", tick, SourcePosition("ticks", 0, 7))  # redelivered
    await h.handle(
        b"u1", Tick("u1", 999.0, 1, 2000.0).to_json(), SourcePosition("ticks", 0, 8)
    )  # old episode
    assert len(sent) == 1
    assert h.metrics.ticks_total.labels("stale")._value.get() == 2


async def test_a_tick_taken_again_after_a_crash_publishes_the_same_alert(tmp_path: Path) -> None:
    """Its alert published, the state not flushed, the worker killed: the restarted worker takes
    the tick again much later, and still decides at the tick's time (no level superseded)."""
    before = encode_state(UserState(events_total=1, last_event_seconds=1000.0, model=HEAD))
    model = ServingModel(STEP_GRAPH, Metrics(), prefer_cuda=False)
    model.load()
    levels = dict(due_times(decode_state(before), model.decay, Thresholds()))
    sent_at = levels[1] + 1.0  # the warning reached, the next level not yet
    assert sent_at < levels[2]
    tick = Tick("u1", 1000.0, 1, levels[1], sent_at).to_json()
    first: list[Alert] = []
    store = {b"u1": before}
    await handler(store, first, sent_at, tmp_path).handle(b"u1", tick, SourcePosition("t", 0, 7))
    again: list[Alert] = []
    store = {b"u1": before}  # the crash: the state as it was flushed before the tick
    late = handler(store, again, 1000.0 + 400 * 86_400, tmp_path)
    await late.handle(b"u1", tick, SourcePosition("t", 0, 7))
    assert [a.level for a in first] == ["warning"] and again == first
    assert decode_state(store[b"u1"]).alert_level == 1


def test_a_tick_without_its_send_time_is_read_as_written_by_earlier_versions() -> None:
    assert Tick.from_json(b'{"user_id":"u","episode":1.0,"level":1,"due_seconds":2.0}') == Tick(
        "u", 1.0, 1, 2.0
    )
    sent = Tick("u", 1.0, 1, 2.0, 3.5)
    assert Tick.from_json(sent.to_json()) == sent
    assert b"sent_seconds" not in Tick("u", 1.0, 1, 2.0).to_json()


@pytest.mark.parametrize("chunk_size", [3, 4096])
async def test_schedule_is_rebuilt_from_the_table_for_owned_partitions(
    tmp_path: Path, chunk_size: int
) -> None:
    model = ServingModel(STEP_GRAPH, Metrics(), prefer_cuda=False)
    model.load()
    items = [
        (
            f"u{i}".encode(),
            encode_state(UserState(events_total=1, last_event_seconds=1000.0 + i, model=HEAD)),
        )
        for i in range(40)
    ]
    schedule = DueSchedule()
    users = rebuild_schedule(schedule, items, 4, {0, 1}, model, Thresholds(), chunk_size)
    assert 0 < users < 40
    levels = due_times(UserState(last_event_seconds=1000.0, model=HEAD), model.decay, Thresholds())
    assert len(levels) == 3 and len(schedule) == users * len(levels)
    ticks: list[Tick] = []

    async def send(entry: object, tick: Tick) -> None:
        ticks.append(tick)

    scheduled = len(schedule)
    assert await emit_due_ticks(schedule, 1e12, send) == scheduled == len(ticks)
    assert len(schedule) == 0 and {t.sent_seconds for t in ticks} == {1e12}
    owned = {t.user_id for t in ticks}
    assert {(t.user_id, t.level, t.due_seconds) for t in ticks} == {
        (user, int(level), due)
        for user in owned
        for level, due in due_times(
            UserState(events_total=1, last_event_seconds=1000.0 + int(user[1:]), model=HEAD),
            model.decay,
            Thresholds(),
        )
    }  # each user's own due times, whatever chunk it was computed in


async def test_a_rebuild_over_heads_of_several_shapes_schedules_each_user() -> None:
    """After a model with another number of components, the table holds heads of both shapes."""
    model = ServingModel(STEP_GRAPH, Metrics(), prefer_cuda=False)
    model.load()
    one = ModelState("old", (0.0,), (0.0,), (0.001,), (0.2,), (0.1,), (((5, 1.0),),))
    wide = replace(HEAD, h=(0.0, 0.0), c=(0.0, 0.0))
    heads = [HEAD, one, wide, one, HEAD, wide]
    states = [
        UserState(events_total=1, last_event_seconds=1000.0 + i, model=head)
        for i, head in enumerate(heads)
    ]
    items = [(f"u{i}".encode(), encode_state(s)) for i, s in enumerate(states)]
    schedule = DueSchedule()
    assert rebuild_schedule(schedule, items, 1, {0}, model, Thresholds()) == len(states)
    expected = sum(len(due_times(s, model.decay, Thresholds())) for s in states)
    assert expected > 0 and len(schedule) == expected


async def test_alerts_of_a_tick_go_through_the_policy_and_action_times_are_stored(
    tmp_path: Path,
) -> None:
    body = load_policy(RULES_POLICY).model_dump(mode="json", exclude_none=True)
    body.pop("quiet_hours")
    body["control"]["share"] = 0.0
    body["triggers"]["critical"] = {"new": ["push", "coupon"]}
    body["coupon"]["value"] = {"new": 2.5}
    policy = parse_policy(body)
    store = {b"u1": encode_state(UserState(events_total=1, last_event_seconds=1000.0, model=HEAD))}
    sent: list[Alert] = []
    actions: list[Action] = []

    async def send_action(action: Action, source: SourcePosition) -> None:
        actions.append(action)

    late = 1000.0 + 400 * 86_400
    h = handler(store, sent, late, tmp_path)
    h.activation = Activation(policy, send_action, h.metrics, {0: BudgetState(1.0, late)})
    tick = Tick("u1", 1000.0, 1, 2000.0).to_json()
    await h.handle(b"u1", tick, SourcePosition("ticks", 0, 7))
    by_alert = {a.alert_id: a.level for a in sent}
    decided = [(by_alert[a.alert_id or ""], a.kind.value) for a in actions]
    # one alert for the highest level reached: its actions only, not those of the levels skipped
    assert decided == [("critical", "push"), ("critical", "coupon")]
    stored = decode_state(store[b"u1"])
    assert dict(stored.action_times) == {"push": late, "coupon": late}
    assert [p.actions for p in stored.predictions] == [(("push", False), ("coupon", False))]
    await h.handle(b"u1", tick, SourcePosition("ticks", 0, 7))  # redelivered: nothing more
    assert len(actions) == 2


async def test_an_alert_is_a_prediction_resolved_when_its_horizon_passes(tmp_path: Path) -> None:
    store = {b"u1": encode_state(UserState(events_total=1, last_event_seconds=1000.0, model=HEAD))}
    sent: list[Alert] = []
    late = 1000.0 + 400 * 86_400
    h = handler(store, sent, late, tmp_path)
    await h.handle(b"u1", Tick("u1", 1000.0, 1, 2000.0).to_json(), SourcePosition("ticks", 0, 7))
    opened = decode_state(store[b"u1"])
    assert [p.level for p in opened.predictions] == ["critical"]
    deadline = late + h.model.decay.horizon_days * 86_400 + Thresholds().outcome_grace_seconds
    assert h.schedule.pop_due(deadline - 1) == []  # the grace for late returns is not over
    assert [e.level for e in h.schedule.pop_due(deadline)] == [OUTCOME_DUE]
    h.clock = AcceleratedClock(deadline - 1, 0.0)
    tick = Tick("u1", 1000.0, OUTCOME_DUE, deadline).to_json()
    await h.handle(b"u1", tick, SourcePosition("ticks", 0, 8))
    assert len(decode_state(store[b"u1"]).predictions) == 1  # a tick too early resolves nothing
    h.clock = AcceleratedClock(deadline, 0.0)
    await h.handle(b"u1", tick, SourcePosition("ticks", 0, 9))
    resolved = decode_state(store[b"u1"])
    assert resolved.predictions == () and len(sent) == 1
    assert sum(t.predictions - t.returned for _, t in resolved.outcomes.alerts) == 1
    text = generate_latest(h.metrics.registry).decode()
    (line,) = (
        line
        for line in text.splitlines()
        if line.startswith("decay_alert_outcomes_total{") and 'outcome="not_returned"' in line
    )
    assert 'level="critical"' in line and 'partition="0"' in line and line.endswith(" 1.0")
    assert h.metrics.ticks_total.labels("resolved")._value.get() == 1


async def test_outcome_totals_are_summed_again_from_the_table(tmp_path: Path) -> None:
    store = {b"u1": encode_state(UserState(events_total=1, last_event_seconds=1000.0, model=HEAD))}
    sent: list[Alert] = []
    h = handler(store, sent, 1000.0 + 400 * 86_400, tmp_path)
    await h.handle(b"u1", Tick("u1", 1000.0, 1, 2000.0).to_json(), SourcePosition("ticks", 0, 7))
    h.clock = AcceleratedClock(1e12, 0.0)
    await h.handle(b"u1", Tick("u1", 1000.0, 0, 1e12).to_json(), SourcePosition("ticks", 0, 8))
    live = {p: dict(t.alerts) for p, t in h.metrics.outcome_totals.partitions.items()}
    partition = partition_for_key(b"u1", 4)
    rebuild_schedule(DueSchedule(), list(store.items()), 4, {partition}, h.model, Thresholds())
    rebuilt = {p: dict(t.alerts) for p, t in h.metrics.outcome_totals.partitions.items()}
    assert list(rebuilt) == [partition]
    assert list(rebuilt[partition].values()) == list(live[0].values())
