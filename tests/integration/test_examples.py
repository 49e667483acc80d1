"""examples/: the alerts consumer, run as integrators would, against a worker's real alerts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stream_app.kafka.clients import new_producer
from stream_app.settings import Settings
from tests.conftest import REPO_ROOT
from tests.integration.support import WorkerFactory, read_alerts, replay_and_wait, retail_events

pytestmark = pytest.mark.integration

CONSUMER = REPO_ROOT / "examples" / "alerts_consumer.py"


def alerts_until(settings: Settings, at_least: int, timeout_seconds: float = 120.0) -> list[dict]:
    """The alerts on the topic once there are at least `at_least` (progress), or at the timeout."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        alerts = read_alerts(settings)
        if len(alerts) >= at_least or time.monotonic() > deadline:
            return alerts
        time.sleep(1.0)


def test_the_example_consumer_shows_each_alert_once(
    settings: Settings, workers: WorkerFactory, tmp_path: Path
) -> None:
    workers.start(settings)
    # The sample is from 2010: on the wall clock every user is long silent, so alerts are due.
    replay_and_wait(settings, retail_events())
    alerts = alerts_until(settings, at_least=20)
    assert len(alerts) >= 20
    assert settings.bootstrap_servers is not None
    producer = new_producer(settings.bootstrap_servers)
    first = alerts[0]
    producer.send(settings.alerts_topic, json.dumps(first).encode(), key=first["user_id"].encode())
    producer.send(settings.alerts_topic, b"not json", key=b"x")  # a record it cannot read
    producer.flush()
    producer.close()
    unique = {a["alert_id"] for a in alerts}

    result = subprocess.run(
        [sys.executable, str(CONSUMER), "--bootstrap", settings.bootstrap_servers,
         "--topic", settings.alerts_topic, "--group", f"{settings.app_id}-example",
         "--from-beginning", "--idle-seconds", "10"],
        capture_output=True, text=True, timeout=180, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    shown = [line.split(" ", 1)[0] for line in lines]
    assert len(shown) == len(set(shown)), "an alert shown twice"
    assert set(shown) >= unique, set(unique) - set(shown)
    assert "skipped a record" in result.stderr
    line = lines[shown.index(first["alert_id"])]
    assert f"user={first['user_id']} level={first['level']}" in line
