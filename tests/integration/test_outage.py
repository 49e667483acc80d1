"""A broker outage in the worker's log: one line when it is lost, one when it is back.

The worker runs against a broker of its own, which is stopped until the worker has said the
connection is lost (and its metric counted it), then started again until the worker says it is
back: driven by what the worker logs, not by time. Between the two lines no client error line
reaches the log, however many retries the clients made.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from stream_app.kafka.local import LocalKafka
from stream_app.kafka.outage import CONNECTION_FAILURE
from stream_app.settings import Settings
from tests.integration.support import WorkerFactory, WorkerProcess

pytestmark = pytest.mark.integration

LOST = "Kafka connection lost"
BACK = "Kafka connection back after"


def wait_for_line(worker: WorkerProcess, text: str, timeout_seconds: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        assert worker.alive, worker.log()
        if text in worker.log_path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise TimeoutError(f"no {text!r} in the worker's log:\n{worker.log()}")


def test_an_outage_logs_one_line_lost_and_one_back(
    tmp_path: Path, settings: Settings, workers: WorkerFactory
) -> None:
    broker = LocalKafka(data_dir=tmp_path / "own-kafka")
    broker.start()
    try:
        own = settings.model_copy(update={"bootstrap_servers": broker.bootstrap_servers})
        worker = workers.start(own)
        broker.stop()
        wait_for_line(worker, LOST)
        assert "decay_kafka_connection_lost_total 1.0" in worker.http_get("/metrics")
        broker.start()
        wait_for_line(worker, BACK)
        log = worker.log_path.read_text(errors="replace")  # before the broker stops for good
    finally:
        broker.stop()
    during = log.split(LOST, 1)[1].split(BACK, 1)[0].splitlines()[1:]
    client_errors = [line for line in during if CONNECTION_FAILURE.search(line)]
    assert not client_errors, client_errors[:5]
    assert log.count(LOST) == 1 and log.count(BACK) == 1
    hidden = re.search(r"\((\d+) client error lines hidden\)", log)
    assert hidden is not None and int(hidden.group(1)) > 0, "the outage caused no retries?"
