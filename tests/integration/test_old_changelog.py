"""Upgrade on the real broker: a worker recovers user states that earlier releases wrote to the
changelog (formats 2 to 5, and the current one), alerts on them, and goes on from them."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import pytest

from stream_app.commands.replay import encode_event
from stream_app.events.partitioning import partition_for_key
from stream_app.events.schema import Event, EventType, utc_from_seconds
from stream_app.kafka.clients import ensure_topic, new_producer
from stream_app.kafka.reading import latest_by_key, read_topic, wait_caught_up
from stream_app.settings import Settings
from stream_app.state import UserState, apply_event, decode_state, encode_state
from stream_app.state.codec import STATE_FORMAT_VERSION
from stream_app.topology import changelog_topic
from tests.integration.support import WorkerFactory, covering_alerts, read_alerts
from tests.offline_model import STEP_GRAPH
from tests.state_fixtures import (
    FORMAT_3_STATE,
    FORMAT_4_STATE,
    FORMAT_5_STATE,
    format_2_bytes,
    older_format_model,
    older_format_state,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not STEP_GRAPH.exists(), reason="no committed model in models/"),
]

#: The ring length the fixtures were written with.
SEQUENCE_LENGTH = 5
#: Events the old states have applied on their partition (offsets 0 to 6): `last_offset` is 6.
APPLIED_BEFORE = 7
LEVELS = {"warning", "at_risk", "critical"}


@dataclass(frozen=True)
class OldUser:
    """A user whose state an earlier release left in the changelog."""

    label: str
    key: bytes
    partition: int
    stored: bytes

    @property
    def state(self) -> UserState:
        return decode_state(self.stored)


def current_format_state() -> UserState:
    """A state the current encoder wrote, with a head of an earlier model."""
    state: UserState | None = None
    for offset in range(APPLIED_BEFORE):
        kind = EventType.PURCHASE if offset % 3 == 0 else EventType.VIEW
        event = Event(
            "x", utc_from_seconds(1_700_050_000 + 1800 * offset), kind, f"item-{offset}",
            "cat-1", 3.0 if kind is EventType.PURCHASE else None, f"c{offset}",
        )  # fmt: skip
        state, _ = apply_event(state, event, offset, SEQUENCE_LENGTH)
    assert state is not None
    return replace(state, model=older_format_model())


def old_users(settings: Settings) -> list[OldUser]:
    """One user per stored format, each on a partition of its own."""
    stored = {
        "format-2": format_2_bytes(replace(older_format_state(), decayed=())),
        "format-3": FORMAT_3_STATE,
        "format-4": FORMAT_4_STATE,
        "format-5": FORMAT_5_STATE,
        "current": encode_state(current_format_state()),
    }
    assert stored["format-2"][:1] == b"{"  # JSON
    assert [stored[f"format-{v}"][2] for v in (3, 4, 5)] == [3, 4, 5]
    assert stored["current"][2] == STATE_FORMAT_VERSION
    users: list[OldUser] = []
    for label, raw in stored.items():
        taken = {u.partition for u in users}
        for i in range(1000):
            key = f"{label}-user-{i}".encode()
            partition = partition_for_key(key, settings.partitions, settings.producer_partitioner)
            if partition not in taken:
                users.append(OldUser(label, key, partition, raw))
                break
    return users


def filler(user: OldUser, offset: int) -> Event:
    """An event at an offset the old state has applied already; counted again it would show
    (an earlier time, another type)."""
    return Event(
        user.key.decode(), utc_from_seconds(1_600_000_000 + 60 * offset), EventType.CART,
        f"filler-{offset}", None, None, f"filler-{offset}",
    )  # fmt: skip


def comeback(user: OldUser, ts_seconds: float) -> Event:
    """The user's first event after the upgrade: a purchase of 4.0."""
    return Event(
        user.key.decode(), utc_from_seconds(ts_seconds), EventType.PURCHASE, "item-new",
        "cat-new", 4.0, f"new-{user.label}",
    )  # fmt: skip


def write_old_release(settings: Settings, users: list[OldUser]) -> None:
    """What the earlier release left: each state in the changelog on its key's events
    partition, and the events it had applied on the events topic."""
    assert settings.bootstrap_servers
    bootstrap = settings.bootstrap_servers
    changelog = changelog_topic(settings.app_id)
    ensure_topic(bootstrap, changelog, settings.partitions, {"cleanup.policy": "compact"})
    ensure_topic(bootstrap, settings.events_topic, settings.partitions)
    producer = new_producer(bootstrap)
    try:
        for user in users:
            producer.send(changelog, key=user.key, value=user.stored, partition=user.partition)
            for offset in range(APPLIED_BEFORE):
                key, value = encode_event(filler(user, offset))
                sent = producer.send(
                    settings.events_topic, key=key, value=value, partition=user.partition
                ).get(timeout=30)
                assert sent.offset == offset
        producer.flush()
    finally:
        producer.close()


def send(settings: Settings, events: list[Event]) -> None:
    assert settings.bootstrap_servers
    producer = new_producer(settings.bootstrap_servers)
    try:
        for event in events:
            key, value = encode_event(event)
            producer.send(settings.events_topic, key=key, value=value).get(timeout=30)
    finally:
        producer.close()


def wait_for_alerts(settings: Settings, users: list[OldUser], timeout_seconds: float) -> None:
    """Until every user's old silence is alerted on at each level (progress, not time)."""
    deadline = time.monotonic() + timeout_seconds
    missing: dict[str, set[str]] = {}
    while time.monotonic() < deadline:
        alerts = read_alerts(settings)
        missing = {
            u.label: LEVELS
            - set(covering_alerts(alerts, u.key.decode(), u.state.last_event_seconds))
            for u in users
        }
        if not any(missing.values()):
            return
        time.sleep(0.5)
    raise AssertionError(f"levels never alerted for the recovered states: {missing}")


def changelog_latest(settings: Settings) -> dict[bytes, bytes | None]:
    assert settings.bootstrap_servers
    records = read_topic(
        settings.bootstrap_servers, changelog_topic(settings.app_id), timeout_seconds=60
    )
    return latest_by_key(records)


def test_states_of_earlier_formats_are_recovered_and_go_on(
    settings: Settings, workers: WorkerFactory
) -> None:
    """Formats 2 to 5 and the current one in the changelog before the first worker starts:
    the redelivered events they have applied change nothing, their silence (years by the
    worker's wall clock) is alerted on, and a new event continues each state, written back in
    the current format."""
    settings = settings.model_copy(update={"sequence_length": SEQUENCE_LENGTH, "partitions": 6})
    assert settings.bootstrap_servers
    users = old_users(settings)
    assert len({u.partition for u in users}) == len(users)
    write_old_release(settings, users)

    workers.start(settings, "upgraded")
    # The group has no offsets: the worker reads offsets 0-6 again, which the states have applied.
    wait_caught_up(
        settings.bootstrap_servers, settings.app_id, settings.events_topic, timeout_seconds=120
    )
    # Recovered states are scheduled: their due levels are alerted (and recorded in the state).
    wait_for_alerts(settings, users, timeout_seconds=120)

    returned_at = float(int(time.time()))
    comebacks = {u.key: comeback(u, returned_at) for u in users}
    send(settings, list(comebacks.values()))
    wait_caught_up(
        settings.bootstrap_servers, settings.app_id, settings.events_topic, timeout_seconds=120
    )  # committed after the changelog flush was acknowledged

    latest = changelog_latest(settings)
    for user in users:
        raw = latest[user.key]
        assert raw is not None, user.label
        assert raw[2] == STATE_FORMAT_VERSION, (user.label, raw[:4])
        got = decode_state(raw)
        old = user.state
        want, _ = apply_event(old, comebacks[user.key], APPLIED_BEFORE, SEQUENCE_LENGTH)
        assert got.events_total == old.events_total + 1, user.label
        assert got.type_counts == want.type_counts, user.label
        assert got.count(EventType.CART) == old.count(EventType.CART), user.label  # no filler
        assert got.spend_total == old.spend_total + 4.0, user.label
        assert got.first_event_seconds == old.first_event_seconds, user.label
        assert got.last_event_seconds == returned_at, user.label
        assert got.last_offset == APPLIED_BEFORE, user.label
        assert list(got.recent) == list(want.recent), user.label
        assert got.decayed == pytest.approx(want.decayed, rel=1e-9, abs=1e-300), user.label
        assert got.model is not None and got.model.version != older_format_model().version
    letters = list(read_topic(settings.bootstrap_servers, settings.dead_letter_topic))
    assert not letters, [(r.headers, r.value) for r in letters[:3]]
