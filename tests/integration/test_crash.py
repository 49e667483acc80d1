"""Faults on the real broker during a replay: kill -9 again and again, a rebalance between two
workers, a broker restart. Each run ends as an uninterrupted one would."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

from stream_app.kafka.local import LocalKafka, free_port
from stream_app.settings import Settings
from tests.integration.faults import assert_same_as_uninterrupted, fault_setup, start_replay
from tests.integration.support import WorkerFactory
from tests.offline_model import STEP_GRAPH

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(not STEP_GRAPH.exists(), reason="no committed model in models/"),
]


def kill_9_five_times(
    settings: Settings, workers: WorkerFactory, shared_data: Path, guarantee: str
) -> None:
    """Kill -9 the worker five times at random points of a replay, then compare."""
    settings, events, clock = fault_setup(settings, shared_data)
    # Static membership: a restarted worker takes its place at once, without a rebalance.
    settings = settings.model_copy(
        update={"group_instance_id": "crash-test-worker", "processing_guarantee": guarantee}
    )
    rng = random.Random(20111209)
    worker = workers.start(settings, "w0")
    replayer, done = start_replay(settings, events)
    for crash in range(1, 6):
        time.sleep(rng.uniform(2.0, 5.0))  # anywhere: starting, recovering, processing, committing
        worker.stop(signal.SIGKILL)
        fresh = settings.model_copy(update={"data_dir": settings.data_dir.parent / f"w{crash}"})
        worker = workers.start(fresh, f"w{crash}", wait_ready=crash == 5)
    assert not done.is_set(), "the replay ended before the fifth crash"
    replayer.join()
    assert_same_as_uninterrupted(settings, events, clock, exactly_once=guarantee == "exactly_once")


def test_kill_9_five_times_loses_nothing(
    settings: Settings, workers: WorkerFactory, shared_data: Path
) -> None:
    """At least once: nothing lost, repeats only with the same id."""
    kill_9_five_times(settings, workers, shared_data, "at_least_once")


def test_kill_9_five_times_exactly_once_repeats_nothing(
    settings: Settings, workers: WorkerFactory, shared_data: Path
) -> None:
    """Exactly once, read committed: nothing lost, no alert or action published twice."""
    kill_9_five_times(settings, workers, shared_data, "exactly_once")


def test_rebalance_scale_out_then_in_loses_nothing(
    settings: Settings, workers: WorkerFactory, shared_data: Path
) -> None:
    """Two workers in one group: the second joins mid-replay (partitions split), then the first
    stops (the second takes them all)."""
    settings, events, clock = fault_setup(settings, shared_data)
    first = workers.start(settings, "first")
    replayer, done = start_replay(settings, events)
    time.sleep(6)
    second_settings = settings.model_copy(
        update={"data_dir": settings.data_dir.parent / "second", "http_port": free_port()}
    )
    second = workers.start(second_settings, "second")
    time.sleep(6)
    assert "decay_events_consumed_total" in second.http_get("/metrics")
    first.stop(signal.SIGTERM)
    assert not done.is_set(), "the replay ended before the scale-in"
    replayer.join()
    assert_same_as_uninterrupted(settings, events, clock)


def test_broker_restart_mid_replay_loses_nothing(
    tmp_path: Path, workers: WorkerFactory, shared_data: Path, settings: Settings
) -> None:
    """A broker of its own, restarted (SIGTERM, start again) while the worker consumes."""
    broker = LocalKafka(data_dir=tmp_path / "own-kafka")
    broker.start()
    try:
        own = settings.model_copy(update={"bootstrap_servers": broker.bootstrap_servers})
        own, events, clock = fault_setup(own, shared_data)
        workers.start(own, "w0")
        replayer, done = start_replay(own, events)
        time.sleep(8)
        broker.restart()
        assert not done.is_set(), "the replay ended before the broker restart"
        replayer.join()
        assert_same_as_uninterrupted(own, events, clock)
    finally:
        broker.stop()
