"""Faults on the real broker during a replay: kill -9 again and again, a rebalance between two
workers, a broker restart. Each run ends as an uninterrupted one would."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from stream_app.kafka.local import LocalKafka, free_port
from stream_app.settings import Settings
from tests.integration.faults import (
    PausingReplay,
    assert_same_as_uninterrupted,
    fault_setup,
    produce,
    slow_clock,
    start_alerting_worker,
    wait_committed,
)
from tests.integration.support import WorkerFactory, WorkerProcess
from tests.offline_model import STEP_GRAPH

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(not STEP_GRAPH.exists(), reason="no committed model in models/"),
]


def kill_9_five_times(
    settings: Settings, workers: WorkerFactory, shared_data: Path, guarantee: str
) -> None:
    """Kill -9 the worker five times, each at a point of progress, then compare.

    Driven by progress, not time, so that a loaded machine changes nothing: the replay comes in
    five parts; the first four crashes each come once the worker has committed part of the
    part just produced (it recovered and processed, and more waits), the fifth once everything
    is committed. The killed workers' clock stays far before the data; the last one, started
    after the fifth crash, runs the clock through the alerts' due times.
    """
    settings, events, _ = fault_setup(settings, shared_data)
    # Static membership: a restarted worker takes its place at once, without a rebalance.
    settings = slow_clock(settings).model_copy(
        update={"group_instance_id": "crash-test-worker", "processing_guarantee": guarantee}
    )
    size = -(-len(events) // 5)
    parts = [events[i : i + size] for i in range(0, len(events), size)]
    worker = workers.start(settings, "w0")
    produced = 0
    for crash in range(1, 6):
        produce(settings, parts[crash - 1])
        before, produced = produced, produced + len(parts[crash - 1])
        # Crashes 1-4: once part of this part is committed; the fifth: once all of it is.
        try:
            wait_committed(settings, produced if crash == 5 else before + 1)
        except TimeoutError as exc:
            raise AssertionError(f"{exc} (crash {crash}):\n{worker.log()}") from None
        worker.stop(signal.SIGKILL)
        if crash < 5:
            fresh = settings.model_copy(update={"data_dir": settings.data_dir.parent / f"w{crash}"})
            worker = workers.start(fresh, f"w{crash}", wait_ready=False)
    worker, clock = start_alerting_worker(settings, workers, "w5")
    # Every event was committed before the last worker started: its clock cannot run ahead
    # of the processing, whatever the machine's speed.
    assert_same_as_uninterrupted(
        settings, events, clock, exactly_once=guarantee == "exactly_once", processed_first=True
    )


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
    stops (the second takes them all). Each step waits for progress, not for time."""
    settings, events, _ = fault_setup(settings, shared_data)
    settings = slow_clock(settings)
    first = workers.start(settings, "first")
    replay = PausingReplay(settings, events, pauses=[1_000, 2_000])
    wait_committed(settings, 300)
    second_settings = settings.model_copy(
        update={"data_dir": settings.data_dir.parent / "second", "http_port": free_port()}
    )
    second = workers.start(second_settings, "second")
    replay.resume()
    wait_until(lambda: consumed(second) > 0, "the second worker applied no event")
    first.stop(signal.SIGTERM)
    replay.join()
    wait_committed(settings, len(events))
    second.stop(signal.SIGTERM)
    _, clock = start_alerting_worker(settings, workers, "alerting")
    assert_same_as_uninterrupted(settings, events, clock, processed_first=True)


def test_broker_restart_mid_replay_loses_nothing(
    tmp_path: Path, workers: WorkerFactory, shared_data: Path, settings: Settings
) -> None:
    """A broker of its own, restarted (SIGTERM, start again) while the worker consumes, once it
    has made progress and before the replay is over."""
    broker = LocalKafka(data_dir=tmp_path / "own-kafka")
    broker.start()
    try:
        own = settings.model_copy(update={"bootstrap_servers": broker.bootstrap_servers})
        own, events, _ = fault_setup(own, shared_data)
        own = slow_clock(own)
        worker = workers.start(own, "w0")
        replay = PausingReplay(own, events, pauses=[1_500])
        wait_committed(own, 500)
        broker.restart()
        replay.join()
        wait_committed(own, len(events))
        worker.stop(signal.SIGTERM)
        _, clock = start_alerting_worker(own, workers, "alerting")
        assert_same_as_uninterrupted(own, events, clock, processed_first=True)
    finally:
        broker.stop()


def consumed(worker: WorkerProcess) -> float:
    """Events the worker applied, from its /metrics."""
    lines = worker.http_get("/metrics").splitlines()
    prefix = "decay_events_consumed_total{"
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(prefix))


def wait_until(check: Callable[[], bool], failure: str, timeout_seconds: float = 120.0) -> None:
    """Poll `check` until it holds (progress); AssertionError after the timeout."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(failure)
