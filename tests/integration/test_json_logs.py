"""DECAY_LOG_FORMAT=json on a real worker: every line it writes, Faust's included, is one JSON
object, lines name the model version, and no line holds a user id."""

from __future__ import annotations

import json
import time

import pytest

from stream_app.commands.replay import replay
from stream_app.events.schema import Event, EventType, utc_from_seconds
from stream_app.kafka.reading import wait_caught_up
from stream_app.settings import Settings
from tests.integration.support import WorkerFactory

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_json_logs_of_a_real_worker(settings: Settings, workers: WorkerFactory) -> None:
    bootstrap = settings.bootstrap_servers
    assert bootstrap
    worker = workers.start(settings.model_copy(update={"log_format": "json"}))
    users = [f"json-log-user-{i}" for i in range(50)]
    events = [
        Event(user, utc_from_seconds(time.time() - 3600 + i), EventType.VIEW, f"item-{i}")
        for i, user in enumerate(users * 4)
    ]
    replay(events, bootstrap=bootstrap, topic=settings.events_topic,
           partitions=settings.partitions, progress=False)  # fmt: skip
    wait_caught_up(bootstrap, settings.app_id, settings.events_topic, timeout_seconds=90)
    worker.stop()

    text = worker.log_path.read_text()
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert len(records) >= 10
    assert all({"level", "logger", "message", "timestamp"} <= r.keys() for r in records)
    versions = {r.get("model_version") for r in records}
    assert any(v and v[0].isdigit() for v in versions), versions
    assert not [u for u in users if u in text]
