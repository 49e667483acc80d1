"""The RocksDB store on the real broker (the StatefulSet variant, deploy/k8s/stateful/): a worker
restarted on the same data directory and instance id keeps its local state and reads nothing
from the changelog; on an empty directory it rebuilds the state from the changelog."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from stream_app.commands.replay import replay
from stream_app.events.schema import Event, EventType, utc_from_seconds
from stream_app.kafka.reading import wait_caught_up
from stream_app.settings import Settings
from tests.integration.support import WorkerFactory, WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
USERS = 120

ROW = re.compile(r"^\|\s*(\S+)\s*\|\s*(\d+)\s*\|\s*(-?\d+)\s*\|", re.M)


def last_table(log: str, title: str) -> dict[int, int]:
    """partition → value of the last Faust recovery table called `title` in the log."""
    lines = log[log.rindex(f"+{title}") :].splitlines()[3:]  # title, header, rule
    end = next(i for i, line in enumerate(lines) if not line.startswith("|"))
    return {int(p): int(value) for _, p, value in ROW.findall("\n".join(lines[:end]))}


def recovery_of(worker: WorkerProcess) -> tuple[dict[int, int], dict[int, int]]:
    """(changelog highwater, offset the recovery starts reading at) per table partition."""
    log = worker.log_path.read_text(errors="replace")
    return last_table(log, "Highwater - Active"), last_table(log, "Reading Starts At - Active")


def users_tracked(worker: WorkerProcess) -> float:
    for line in worker.http_get("/metrics").splitlines():
        if line.startswith("decay_users_tracked "):
            return float(line.split()[1])
    return -1.0


def wait_users(worker: WorkerProcess, expected: int, timeout_seconds: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while users_tracked(worker) != expected:
        assert time.monotonic() < deadline, (users_tracked(worker), worker.log())
        time.sleep(0.5)


def test_restart_on_the_same_volume_reads_nothing_from_the_changelog(
    settings: Settings, workers: WorkerFactory, tmp_path: Path
) -> None:
    bootstrap = settings.bootstrap_servers
    assert bootstrap
    stateful = settings.model_copy(
        update={"store_url": "rocksdb://", "group_instance_id": "decay-stream-worker-0"}
    )
    first = workers.start(stateful, "first")
    events = [
        Event(f"user-{i % USERS}", utc_from_seconds(1.7e9 + i), EventType.VIEW, f"item-{i}")
        for i in range(4 * USERS)
    ]
    replay(events, bootstrap=bootstrap, topic=settings.events_topic,
           partitions=settings.partitions, progress=False)  # fmt: skip
    wait_caught_up(bootstrap, settings.app_id, settings.events_topic, timeout_seconds=90)
    wait_users(first, USERS)
    first.stop()  # SIGTERM: Faust commits, flushes the store and leaves
    assert first.process.returncode is not None

    again = workers.start(stateful, "again")
    wait_users(again, USERS)
    highwater, starts_at = recovery_of(again)
    assert sum(highwater.values()) >= USERS - settings.partitions, highwater  # state was written
    assert starts_at == highwater, "the local store was behind: it read the changelog"
    again.stop()

    # Control: an empty data directory (a new pod without its volume) reads the whole changelog.
    fresh = workers.start(stateful.model_copy(update={"data_dir": tmp_path / "fresh"}), "fresh")
    wait_users(fresh, USERS)
    highwater, starts_at = recovery_of(fresh)
    assert all(offset == -1 for offset in starts_at.values()), starts_at
