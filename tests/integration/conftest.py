"""Integration fixtures: one real Kafka broker (KRaft) per session, workers as real processes."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from stream_app.kafka.local import LocalKafka, free_port
from stream_app.settings import Settings
from tests.integration.support import WorkerFactory

pytestmark = pytest.mark.integration

WORKERS_KEY = pytest.StashKey[WorkerFactory]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, None]:
    """A failing test's report ends with each worker's warnings and the tail of its log."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    factory = item.stash.get(WORKERS_KEY, None)
    if report.failed and factory is not None:
        for worker in factory.started:
            if worker.log_path.exists():
                report.sections.append((f"worker log {worker.log_path.name}", worker.report()))


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """A real Apache Kafka broker on a free 127.0.0.1 port for the whole session."""
    broker = LocalKafka(data_dir=tmp_path_factory.mktemp("kafka"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def settings(kafka: LocalKafka, tmp_path: Path) -> Settings:
    """Fresh app id, topic names and HTTP port for one test."""
    app_id = f"t-{uuid.uuid4().hex[:10]}"
    return Settings(
        bootstrap_servers=kafka.bootstrap_servers,
        app_id=app_id,
        events_topic=f"{app_id}.events",
        dead_letter_topic=f"{app_id}.dlq",
        alerts_topic=f"{app_id}.alerts",
        actions_topic=f"{app_id}.actions",
        control_actions_topic=f"{app_id}.actions.control",
        ticks_topic=f"{app_id}.ticks",
        partitions=4,
        commit_interval_seconds=0.5,
        http_host="127.0.0.1",
        http_port=free_port(),
        data_dir=tmp_path / "worker",
        log_level="INFO",
    )


@pytest.fixture
def workers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WorkerFactory]:
    """Start workers; all are stopped at the end of the test."""
    factory = WorkerFactory(tmp_path)
    request.node.stash[WORKERS_KEY] = factory
    yield factory
    for worker in factory.started:
        worker.stop(signal.SIGKILL)
