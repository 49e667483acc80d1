"""A broker outage logs one line when it is lost and one when it is back, not one per retry."""

from __future__ import annotations

import logging
import threading

import pytest

from stream_app.kafka.outage import CONNECTION_LOG, ConnectionLog


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.back = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.getMessage()}")
        if "back after" in record.getMessage():
            self.back.set()


@pytest.fixture
def logged() -> tuple[Lines, ConnectionLog]:
    handler = Lines()
    second = Lines()  # a second handler must not see the outage counted twice
    connection_log = ConnectionLog(quiet_seconds=0.2, probe_seconds=0.05)
    # An in-process command run by an earlier test (demo) leaves the process's filter on the
    # root handlers; it would decide these records first.
    installed = [h for h in logging.getLogger().handlers if CONNECTION_LOG in h.filters]
    for h in installed:
        h.removeFilter(CONNECTION_LOG)
    for h in (handler, second):
        h.addFilter(connection_log)
        logging.getLogger().addHandler(h)
    yield handler, connection_log
    for h in (handler, second):
        logging.getLogger().removeHandler(h)
    for h in installed:
        h.addFilter(CONNECTION_LOG)


def test_an_outage_is_one_line_lost_and_one_line_back(logged: tuple[Lines, ConnectionLog]) -> None:
    handler, connection_log = logged
    lost = []
    connection_log.on_lost = lambda: lost.append(1)
    client = logging.getLogger("aiokafka.conn")
    for _ in range(1000):
        client.error("Unable connect to node with id 1: [Errno 111] Connection refused")
        logging.getLogger("kafka.cluster").error("Metadata refresh: failed ECONNREFUSED")
    assert handler.back.wait(10)
    assert len(handler.lines) == 2, handler.lines
    assert handler.lines[0].startswith("WARNING Kafka connection lost (Unable connect")
    assert "back after" in handler.lines[1] and "1999 client error lines hidden" in handler.lines[1]
    assert lost == [1]


def test_startup_noise_is_hidden_and_other_lines_pass(logged: tuple[Lines, ConnectionLog]) -> None:
    handler, _ = logged
    logging.getLogger("aiokafka.consumer.group_coordinator").error(
        "Error sending JoinGroupRequest: GroupCoordinatorNotAvailableError"
    )
    logging.getLogger("kafka.producer.sender").warning("Got error: NotLeaderForPartitionError")
    logging.getLogger("aiokafka.consumer").error("a real problem")
    logging.getLogger("stream_app").error("Unable connect: ours, not a client line")
    assert handler.lines == [
        "ERROR a real problem",
        "ERROR Unable connect: ours, not a client line",
    ]
