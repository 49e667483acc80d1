"""Signals an on-call can trust, on the real broker: a topic with another partition count stops
the worker at start-up, and a revoked partition's lag series leaves the worker's page."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from stream_app.commands.replay import replay
from stream_app.events.schema import Event, EventType, utc_from_seconds
from stream_app.kafka.clients import ensure_topic
from stream_app.kafka.local import free_port
from stream_app.kafka.reading import wait_caught_up
from stream_app.settings import Settings
from tests.integration.support import WorkerFactory, WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def lag_partitions(worker: WorkerProcess) -> set[int]:
    """Partitions with a decay_consumer_lag_messages series on the worker's /metrics page."""
    return {
        int(sample.labels["partition"])
        for family in text_string_to_metric_families(worker.http_get("/metrics"))
        if family.name == "decay_consumer_lag_messages"
        for sample in family.samples
    }


def eventually(check: Callable[[], Any], timeout_seconds: float = 60.0) -> Any:
    """The first truthy result of `check`, polled until the timeout; else the last one."""
    deadline = time.monotonic() + timeout_seconds
    result = None
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    return result


def test_a_topic_with_another_partition_count_stops_the_worker(
    settings: Settings, workers: WorkerFactory
) -> None:
    assert settings.bootstrap_servers
    ensure_topic(settings.bootstrap_servers, settings.events_topic, settings.partitions - 2)

    worker = workers.start(settings, wait_ready=False)

    assert worker.process.wait(120) == 2, worker.log()
    assert (
        f"error: topic {settings.events_topic} has {settings.partitions - 2} partitions,"
        f" expected {settings.partitions} (DECAY_PARTITIONS)"
    ) in worker.log()


def test_a_revoked_partitions_lag_series_is_removed(
    settings: Settings, workers: WorkerFactory
) -> None:
    bootstrap = settings.bootstrap_servers
    assert bootstrap
    events = [  # 200 users: events on every partition each time
        Event(f"user-{i % 200}", utc_from_seconds(1.7e9 + i), EventType.VIEW, f"item-{i}")
        for i in range(800)
    ]
    every_partition = set(range(settings.partitions))

    def send(batch: list[Any]) -> None:
        replay(batch, bootstrap=bootstrap, topic=settings.events_topic,
               partitions=settings.partitions, progress=False)  # fmt: skip
        wait_caught_up(bootstrap, settings.app_id, settings.events_topic, timeout_seconds=90)

    first = workers.start(settings, "first")
    send(events[:400])
    eventually(lambda: lag_partitions(first) == every_partition)

    second = workers.start(settings.model_copy(update={"http_port": free_port()}), "second")
    # The first worker's page loses the partitions it hands over...
    eventually(lambda: lag_partitions(first) < every_partition, 120)
    send(events[400:])  # ...and the second worker's shows them once it processes some.

    seen: list[tuple[set[int], set[int]]] = []

    def split_between_both() -> bool:
        mine, theirs = lag_partitions(first), lag_partitions(second)
        seen.append((mine, theirs))
        return bool(mine and theirs and not mine & theirs and mine | theirs == every_partition)

    assert eventually(split_between_both, 120), seen[-1]
    mine, theirs = seen[-1]
    assert len(mine) < settings.partitions, (mine, theirs)
