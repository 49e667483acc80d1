"""Walking skeleton on the real broker: replay real events, reject bad ones, recover state."""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from pathlib import Path

import pytest

from stream_app.commands.replay import encode_event, replay
from stream_app.data.sources import load_events
from stream_app.events.schema import EVENT_TYPES
from stream_app.kafka.clients import ensure_topic, new_producer
from stream_app.kafka.reading import group_lag, latest_by_key, read_topic, wait_caught_up
from stream_app.settings import Settings
from stream_app.state import UserState, decode_state
from stream_app.topology import changelog_topic
from tests.integration.reference import expected_users, taobao_rows
from tests.integration.support import WorkerFactory

pytestmark = pytest.mark.integration


def table_from_changelog(settings: Settings) -> dict[str, UserState]:
    """The user-state table as a recovering worker rebuilds it: the changelog, last value per key."""
    assert settings.bootstrap_servers
    records = read_topic(
        settings.bootstrap_servers, changelog_topic(settings.app_id), timeout_seconds=30
    )
    return {
        key.decode(): decode_state(value) for key, value in latest_by_key(records).items() if value
    }


def assert_table_matches_file(
    table: dict[str, UserState], rows: list[dict[str, str]], k: int
) -> None:
    expected = expected_users(rows, k)
    assert set(table) == set(expected)
    for user_id, want in expected.items():
        got = table[user_id]
        counts = {t.value: got.count(t) for t in EVENT_TYPES if got.count(t)}
        assert counts == dict(want.counts), user_id
        assert got.events_total == sum(want.counts.values())
        assert got.last_event_seconds == want.last_ts
        assert [(r.item_id, r.type.value) for r in got.recent] == want.items


def test_replayed_real_events_fill_the_table_exactly(
    settings: Settings, workers: WorkerFactory, shared_data: Path
) -> None:
    settings = settings.model_copy(update={"sequence_length": 5})
    workers.start(settings)
    assert settings.bootstrap_servers
    sent = replay(
        load_events("taobao-slice", shared_data),
        bootstrap=settings.bootstrap_servers,
        topic=settings.events_topic,
        partitions=settings.partitions,
        limit=10_000,
        progress=False,
    )
    assert sent == 10_000
    wait_caught_up(
        settings.bootstrap_servers, settings.app_id, settings.events_topic, timeout_seconds=180
    )
    table = table_from_changelog(settings)
    rows = taobao_rows(shared_data, 10_000)
    assert sum(s.events_total for s in table.values()) == 10_000
    assert any(
        len(s.recent) == 5 and s.events_total > 5 for s in table.values()
    )  # the ring is bounded
    assert_table_matches_file(table, rows, 5)


def malformed_messages(now: float) -> list[tuple[str, bytes | None, bytes | None]]:
    """At least ten kinds of bad input, each with the reason the worker must give.

    `now` is the data's time; "future" is judged against the worker's (wall) clock.
    """
    wall = time.time()

    def ev(**fields: object) -> bytes:
        base: dict[str, object] = {
            "user_id": "bad-user",
            "ts": now - 100,
            "type": "view",
            "item_id": "i1",
        }
        base.update(fields)
        return json.dumps({k: v for k, v in base.items() if v is not None}).encode()

    key = b"bad-user"
    return [
        ("invalid_json", key, b'{"user_id": "bad-user", "ts": '),
        ("invalid_json", key, b'{"user_id":"bad-user","ts":NaN,"type":"view","item_id":"i1"}'),
        ("not_an_object", key, b'["bad-user", 1]'),
        ("missing_field", key, ev(user_id=None)),
        ("missing_field", key, ev(ts=None)),
        ("missing_field", key, ev(item_id=None)),
        ("wrong_type", key, ev(user_id={"id": 1})),
        ("wrong_type", key, ev(ts=[1, 2])),
        ("wrong_type", key, ev(price="12.50")),
        ("invalid_value", key, ev(type="teleport")),
        ("invalid_value", key, ev(price=-3)),
        ("ts_out_of_range", key, ev(ts=-1)),
        ("ts_out_of_range", key, ev(ts=wall + 365 * 86_400)),
        ("ts_out_of_range", key, ev(ts=wall * 1000)),
        ("payload_too_large", key, ev(item_id="x" * (2 * 1024 * 1024))),
        ("not_utf8", key, b'{"user_id": "bad-user", "item_id": "\xff\xfe"}'),
        ("key_mismatch", b"someone-else", ev()),
        ("key_mismatch", None, ev()),
        ("invalid_json", key, None),
    ]


def test_malformed_messages_go_to_the_dead_letter_topic(
    settings: Settings, workers: WorkerFactory, shared_data: Path
) -> None:
    worker = workers.start(settings)
    assert settings.bootstrap_servers
    good = list(load_events("taobao-slice", shared_data))[:2_000]
    now = max(e.ts_seconds for e in good)
    kinds = malformed_messages(now)
    assert len(kinds) >= 10 and len({reason for reason, _, _ in kinds}) >= 9
    bad = [kinds[i % len(kinds)] for i in range(200)]
    producer = new_producer(settings.bootstrap_servers)
    sent_bad: dict[tuple[int, int], tuple[str, bytes | None]] = {}
    for i, event in enumerate(good):
        producer.send(
            settings.events_topic,
            key=event.user_id.encode(),
            value=json.dumps(event.to_json_dict()).encode(),
        )
        if i % 10 == 0:
            reason, key, value = bad[i // 10]
            meta = producer.send(settings.events_topic, key=key, value=value).get(timeout=30)
            sent_bad[(meta.partition, meta.offset)] = (reason, value)
    producer.flush()
    producer.close()
    assert len(sent_bad) == 200
    wait_caught_up(
        settings.bootstrap_servers, settings.app_id, settings.events_topic, timeout_seconds=180
    )

    letters = list(
        read_topic(settings.bootstrap_servers, settings.dead_letter_topic, timeout_seconds=30)
    )
    assert len(letters) == 200
    for letter in letters:
        headers = {k: v.decode() for k, v in letter.headers}
        source = (int(headers["dlq.source.partition"]), int(headers["dlq.source.offset"]))
        reason, value = sent_bad.pop(source)
        assert headers["dlq.reason"] == reason
        assert headers["dlq.detail"]
        assert letter.value == value  # the original bytes, unchanged
    assert not sent_bad

    table = table_from_changelog(settings)
    assert sum(s.events_total for s in table.values()) == len(good)
    assert "bad-user" not in table
    assert worker.alive
    metrics = worker.http_get("/metrics")
    rejected = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("decay_events_rejected_total{")
    )
    assert math.isclose(rejected, 200)


def test_fresh_worker_recovers_the_table_from_the_changelog(
    settings: Settings, workers: WorkerFactory, shared_data: Path
) -> None:
    assert settings.bootstrap_servers
    bootstrap = settings.bootstrap_servers
    events = list(load_events("taobao-slice", shared_data))[:10_000]
    first = workers.start(settings, "first")
    replay(
        events[:4_000],
        bootstrap=bootstrap,
        topic=settings.events_topic,
        partitions=settings.partitions,
        progress=False,
    )
    wait_caught_up(bootstrap, settings.app_id, settings.events_topic, timeout_seconds=120)

    # Stop the first worker while the rest of the replay is flowing in.
    rest = threading.Thread(
        target=replay,
        args=(events[4_000:],),
        kwargs={
            "bootstrap": bootstrap,
            "topic": settings.events_topic,
            "partitions": settings.partitions,
            "speed": None,
            "progress": False,
        },
    )
    rest.start()
    first.stop(signal.SIGTERM)
    rest.join()
    assert (group_lag(bootstrap, settings.app_id, settings.events_topic) or 0) > 0, (
        "the first worker saw everything"
    )

    # A fresh process with an empty local store (memory://, new data dir) must rebuild from the changelog.
    fresh = settings.model_copy(update={"data_dir": settings.data_dir.parent / "fresh-worker"})
    workers.start(fresh, "fresh")
    wait_caught_up(bootstrap, settings.app_id, settings.events_topic, timeout_seconds=180)

    table = table_from_changelog(settings)
    rows = taobao_rows(shared_data, 10_000)
    users_before = {e.user_id for e in events[:4_000]}
    users_after = {e.user_id for e in events[4_000:]}
    assert users_before & users_after, "no user spans the restart, the test would prove nothing"
    assert_table_matches_file(table, rows, settings.sequence_length)


def test_events_written_in_transactions_are_all_applied(
    settings: Settings, workers: WorkerFactory, shared_data: Path
) -> None:
    """Transaction markers leave offsets no consumer sees: the worker passes over them.

    Each commit writes a marker to every partition the transaction touched, so every partition
    delivers events beyond an offset that never arrives; the fetcher's records are in order
    from the committed offset, so the gap is a marker, and nothing is lost or held back.
    """
    assert settings.bootstrap_servers
    bootstrap = settings.bootstrap_servers
    events = list(load_events("taobao-slice", shared_data))[:3_000]
    ensure_topic(bootstrap, settings.events_topic, settings.partitions)
    worker = workers.start(settings)
    producer = new_producer(bootstrap, {"transactional_id": f"{settings.app_id}-upstream"})
    try:
        producer.init_transactions()
        for start in range(0, 2_400, 600):
            producer.begin_transaction()
            for event in events[start : start + 600]:
                key, value = encode_event(event)
                producer.send(settings.events_topic, key=key, value=value)
            producer.commit_transaction()
    finally:
        producer.close()
    # The rest without a transaction: every partition then ends with an event, not a marker,
    # so "caught up" (committed offset = end offset) is reachable.
    replay(
        events[2_400:],
        bootstrap=bootstrap,
        topic=settings.events_topic,
        partitions=settings.partitions,
        progress=False,
    )
    wait_caught_up(bootstrap, settings.app_id, settings.events_topic, timeout_seconds=180)

    table = table_from_changelog(settings)
    assert sum(s.events_total for s in table.values()) == len(events)
    assert_table_matches_file(table, taobao_rows(shared_data, len(events)), 5)
    assert "Traceback" not in worker.log_path.read_text()
