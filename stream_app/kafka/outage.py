"""Broker outages in the log: one line when the connection is lost, one when it is back.

Kafka clients (kafka-python, aiokafka) log every failed retry, tens of thousands of lines for a
short outage. `ConnectionLog`, a filter on the log handlers, lets the first failure through as
one WARNING, hides the rest, and a probe thread logs the recovery once the brokers accept
connections again and no client has failed for `quiet_seconds`. Retriable errors that every
first start produces (a coordinator or a partition leader not elected yet) are hidden too.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Callable

log = logging.getLogger("stream_app.kafka")

CLIENT_LOGGERS = ("kafka", "aiokafka")
#: Messages of a lost or refused connection (kafka-python 3 and aiokafka wordings).
CONNECTION_FAILURE = re.compile(
    r"Unable (to )?connect|Unable to update metadata|Connection (failed|lost|refused)"
    r"|ECONNREFUSED|socket disconnected|Metadata refresh: failed|No node available"
    r"|KafkaConnectionError|Connect attempt .* failed|Failed fetch messages|Broken pipe"
    r"|NodeNotReady|RequestTimedOut|KafkaTimeoutError|Abort \(|Heartbeat failed"
    r"|Bootstrap .* not ready|Unable to bootstrap",
    re.IGNORECASE,
)
#: Retriable errors of a fresh cluster or topic: not failures worth a line.
STARTUP_NOISE = re.compile(
    r"GroupCoordinatorNotAvailable|NotLeaderForPartition|LeaderNotAvailable|NotCoordinator"
    r"|not found in cluster metadata|UNKNOWN_TOPIC_OR_PART|Marking the coordinator dead"
    r"|is blocking the event loop",  # kafka-python's own timing note on a loaded machine
    re.IGNORECASE,
)


def reachable(bootstrap: str, timeout_seconds: float = 1.0) -> bool:
    """True when one of the bootstrap servers accepts a TCP connection."""
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=timeout_seconds):
                return True
        except (OSError, ValueError):
            continue
    return False


class ConnectionLog(logging.Filter):
    """Collapses a client's connection errors into a lost line and a back line."""

    def __init__(self, quiet_seconds: float = 3.0, probe_seconds: float = 1.0) -> None:
        super().__init__()
        self.bootstrap: str | None = None
        self.quiet_seconds = quiet_seconds
        self.probe_seconds = probe_seconds
        self.on_lost: Callable[[], None] = lambda: None
        self.down_since: float | None = None
        self.hidden = 0
        self.last_failure = 0.0
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a record to hide; the first failure of an outage is rewritten."""
        if not record.name.startswith(CLIENT_LOGGERS):
            return True
        decided: bool | None = getattr(record, "decay_outage_keep", None)
        if decided is None:  # decided once per record, whatever the number of handlers
            decided = self._decide(record)
            record.decay_outage_keep = decided
        return decided

    def _decide(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if STARTUP_NOISE.search(text):
            return record.levelno < logging.WARNING or logging.root.level <= logging.DEBUG
        if record.levelno < logging.WARNING or not CONNECTION_FAILURE.search(text):
            return True
        with self._lock:
            self.last_failure = time.monotonic()
            if self.down_since is not None:
                self.hidden += 1
                return False
            self.down_since, self.hidden = self.last_failure, 0
        self.on_lost()
        record.msg, record.args, record.levelno, record.levelname = (
            "Kafka connection lost (%s); retrying, one line when it is back",
            (text[:300],),
            logging.WARNING,
            "WARNING",
        )
        threading.Thread(target=self._wait_until_back, name="kafka-outage", daemon=True).start()
        return True

    def start_down(self) -> None:
        """Hide client errors from now until the brokers answer (no lost line)."""
        with self._lock:
            if self.down_since is not None:
                return
            self.down_since, self.hidden, self.last_failure = time.monotonic(), 0, time.monotonic()
        threading.Thread(target=self._wait_until_back, name="kafka-outage", daemon=True).start()

    def _wait_until_back(self) -> None:
        while True:
            time.sleep(self.probe_seconds)
            quiet = time.monotonic() - self.last_failure >= self.quiet_seconds
            if quiet and (self.bootstrap is None or reachable(self.bootstrap)):
                break
        with self._lock:
            since, hidden, self.down_since = self.down_since or 0.0, self.hidden, None
        log.warning(
            "Kafka connection back after %.1f s (%d client error lines hidden)",
            time.monotonic() - since,
            hidden,
        )


#: The one filter of this process, installed on the root handlers by `install`.
CONNECTION_LOG = ConnectionLog()


def install(bootstrap: str | None = None) -> ConnectionLog:
    """Put the filter on every root handler (idempotent); `bootstrap` is what to probe.

    Brokers that do not answer yet are not "lost": their clients' retries are hidden until
    they answer (a command that gives up says so itself, in one line).
    """
    if bootstrap and CONNECTION_LOG.bootstrap != bootstrap:
        CONNECTION_LOG.bootstrap = bootstrap
        if not reachable(bootstrap):
            CONNECTION_LOG.start_down()
    for handler in logging.getLogger().handlers:
        if CONNECTION_LOG not in handler.filters:
            handler.addFilter(CONNECTION_LOG)
    return CONNECTION_LOG
