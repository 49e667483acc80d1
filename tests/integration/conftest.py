"""Integration fixtures: one real Kafka broker (KRaft) per session, workers as real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from stream_app.commands.processes import spawn_worker
from stream_app.kafka.local import LocalKafka, free_port
from stream_app.settings import Settings

pytestmark = pytest.mark.integration


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
        ticks_topic=f"{app_id}.ticks",
        partitions=4,
        commit_interval_seconds=0.5,
        http_host="127.0.0.1",
        http_port=free_port(),
        data_dir=tmp_path / "worker",
        log_level="INFO",
    )


@dataclass
class WorkerProcess:
    """A `decay-stream worker` child process and its log."""

    settings: Settings
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout_seconds: float = 60.0) -> None:
        if not self.alive:
            return
        os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def http_get(self, path: str) -> str:
        url = f"http://127.0.0.1:{self.settings.http_port}{path}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    def wait_http(self, timeout_seconds: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            assert self.alive, self.log()
            try:
                self.http_get("/health/ready")
                return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"worker HTTP not up:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


@dataclass
class WorkerFactory:
    tmp_path: Path
    started: list[WorkerProcess] = field(default_factory=list)

    def start(
        self, settings: Settings, name: str = "worker", *, wait_ready: bool = True
    ) -> WorkerProcess:
        log_path = self.tmp_path / f"{name}-{len(self.started)}.log"
        worker = WorkerProcess(settings, spawn_worker(settings, log_path=log_path), log_path)
        self.started.append(worker)
        if wait_ready:
            worker.wait_http()
        return worker


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[WorkerFactory]:
    """Start workers; all are stopped at the end of the test."""
    factory = WorkerFactory(tmp_path)
    yield factory
    for worker in factory.started:
        worker.stop(signal.SIGKILL)
