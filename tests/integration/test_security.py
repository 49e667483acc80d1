"""SASL/SCRAM over TLS on a real broker: the worker and every client connect with the settings.

A broker of its own (module scope) gets a SASL_SSL listener with a throwaway CA and a SCRAM user;
the worker is a real `decay-stream worker` process configured only through DECAY_* variables.
"""

from __future__ import annotations

import csv
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from stream_app.commands.processes import spawn_worker
from stream_app.commands.replay import replay
from stream_app.data.sources import load_events
from stream_app.events.alert import alert_id
from stream_app.events.schema import EventType
from stream_app.kafka.clients import KafkaConnectError, ensure_topic
from stream_app.kafka.connection import kafka_python_config
from stream_app.kafka.local import LocalKafka, free_port
from stream_app.kafka.local_tls import SASL_SSL_LISTENER, LocalTls, sasl_ssl_kafka
from stream_app.kafka.reading import latest_by_key, read_topic, wait_caught_up
from stream_app.schedule.levels import due_times
from stream_app.settings import Settings
from stream_app.state import UserState, decode_state
from stream_app.topology import changelog_topic
from tests.conftest import FIXTURES
from tests.integration.support import (
    THRESHOLDS,
    WorkerFactory,
    WorkerProcess,
    decay_model,
    read_alerts,
    sim_seconds,
)
from tests.offline_model import STEP_GRAPH

pytestmark = [pytest.mark.integration, pytest.mark.slow]

USER = "decay-worker"
RETAIL_SAMPLE = FIXTURES / "online_retail_sample.csv"


def loopback_alias() -> str:
    """A loopback address other than 127.0.0.1 where the OS has one (Linux: all of 127/8)."""
    try:
        with socket.socket() as sock:
            sock.bind(("127.0.0.2", 0))
    except OSError:
        return "127.0.0.1"
    return "127.0.0.2"


@dataclass(frozen=True)
class SecureCluster:
    broker: LocalKafka
    tls: LocalTls
    password: str

    @property
    def bootstrap(self) -> str:
        """The SASL_SSL listener: the only one the worker and the clients here use."""
        return self.broker.listener_bootstrap_servers(SASL_SSL_LISTENER)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureCluster]:
    password = "pw-" + secrets.token_hex(16)
    broker, tls = sasl_ssl_kafka(tmp_path_factory.mktemp("kafka-sasl"), {USER: password})
    broker.start()
    yield SecureCluster(broker, tls, password)
    broker.stop()


@pytest.fixture
def secure_settings(cluster: SecureCluster, tmp_path: Path) -> Settings:
    app_id = f"sec-{uuid.uuid4().hex[:10]}"
    return Settings(
        bootstrap_servers=cluster.bootstrap,
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username=USER,
        sasl_password=SecretStr(cluster.password),
        ssl_cafile=cluster.tls.ca_file,
        app_id=app_id,
        events_topic=f"{app_id}.events",
        dead_letter_topic=f"{app_id}.dlq",
        alerts_topic=f"{app_id}.alerts",
        actions_topic=f"{app_id}.actions",
        control_actions_topic=f"{app_id}.actions.control",
        ticks_topic=f"{app_id}.ticks",
        partitions=4,
        commit_interval_seconds=0.5,
        http_host=loopback_alias(),
        http_port=free_port(),
        data_dir=tmp_path / "worker",
        log_level="INFO",
    )


def http_get(host: str, port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=5) as response:
        return str(response.read().decode())


def wait_http(worker: WorkerProcess, timeout_seconds: float = 90.0) -> None:
    s = worker.settings
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        assert worker.alive, worker.log()
        try:
            http_get(s.http_host, s.http_port, "/health/live")
            return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"worker HTTP not up on {s.http_host}:{s.http_port}:\n{worker.log()}")


def expected_users(path: Path) -> dict[str, tuple[Counter[str], float]]:
    """user → (events by type, last event time) straight from the CSV: one event per invoice."""
    invoices: dict[str, tuple[str, datetime]] = {}
    for row in csv.DictReader(path.open(encoding="utf-8")):
        if row["CustomerID"].strip():
            when = datetime.fromisoformat(row["InvoiceDate"])
            assert when.month == 12, "December only: London time is UTC, no DST to convert"
            user = str(int(float(row["CustomerID"])))
            invoices.setdefault(row["InvoiceNo"], (user, when.replace(tzinfo=UTC)))  # first line
    users: dict[str, tuple[Counter[str], float]] = {}
    for number, (user, when) in invoices.items():
        counts, last = users.get(user, (Counter(), 0.0))
        counts["cancel" if number.startswith("C") else "purchase"] += 1
        users[user] = (counts, max(last, when.timestamp()))
    return users


def read_table(settings: Settings) -> dict[str, UserState]:
    assert settings.bootstrap_servers
    records = read_topic(
        settings.bootstrap_servers,
        changelog_topic(settings.app_id),
        timeout_seconds=30,
        client_config=kafka_python_config(settings),
    )
    return {k.decode(): decode_state(v) for k, v in latest_by_key(records).items() if v}


def read_alerts_until(
    settings: Settings, wanted: set[str], timeout_seconds: float = 120.0
) -> list[dict[str, object]]:
    """The alerts on the alerts topic, once every id in `wanted` is among them (progress), or
    as they are at the timeout."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        bodies = read_alerts(settings, kafka_python_config(settings))
        if wanted <= {str(b["alert_id"]) for b in bodies} or time.monotonic() > deadline:
            return bodies
        time.sleep(1.0)


def test_worker_over_sasl_ssl_processes_real_events(
    cluster: SecureCluster, secure_settings: Settings, workers: WorkerFactory
) -> None:
    settings = secure_settings
    assert settings.bootstrap_servers == cluster.bootstrap != cluster.broker.bootstrap_servers
    client = kafka_python_config(settings)
    worker = workers.start(settings, "secure", wait_ready=False)
    wait_http(worker)

    events = list(load_events(str(RETAIL_SAMPLE)))
    sent = replay(
        events,
        bootstrap=cluster.bootstrap,
        topic=settings.events_topic,
        partitions=settings.partitions,
        progress=False,
        client_config=client,
    )
    assert sent == len(events) > 100
    wait_caught_up(
        cluster.bootstrap,
        settings.app_id,
        settings.events_topic,
        timeout_seconds=120,
        client_config=client,
    )

    # The table, read back over SASL_SSL, is what the file says.
    table = read_table(settings)
    expected = expected_users(RETAIL_SAMPLE)
    assert set(table) == set(expected)
    for user, (counts, last) in expected.items():
        state = table[user]
        assert state.count(EventType.PURCHASE) == counts["purchase"], user
        assert state.count(EventType.CANCEL) == counts["cancel"], user
        assert state.events_total == sum(counts.values()), user
        assert state.last_event_seconds == last, user
    dead = list(read_topic(cluster.bootstrap, settings.dead_letter_topic, client_config=client))
    assert not dead

    # Alerts: on the wall clock every user of 2010 is long silent, so every level they will ever
    # reach is due at once: one alert each after their last event, for the highest of them. A
    # user whose silence was due while the replay still sent their later events may also have
    # one for an earlier last event, never a later one.
    if STEP_GRAPH.exists():
        decay = decay_model()
        want = {
            alert_id(user, due[-1][0].label, state.last_event_seconds or 0.0)
            for user, state in table.items()
            if state.model is not None
            # the levels of the episode, as scheduled before any of them was reached
            and (due := due_times(replace(state, alert_level=0), decay, THRESHOLDS))
        }
        assert len(want) > len(table) // 2
        bodies = read_alerts_until(settings, want)
        assert want <= {str(b["alert_id"]) for b in bodies}
        for body in bodies:
            last = sim_seconds(body["last_event_at"])
            final = table[str(body["user_id"])].last_event_seconds
            assert final is not None and last <= final, body
        final_alerts = Counter(str(b["alert_id"]) for b in bodies if b["alert_id"] in want)
        assert set(final_alerts.values()) == {1}, "an alert published twice"

        # The `tail` command, configured by the environment alone, reads them too.
        tail = subprocess.run(
            [sys.executable, "-m", "stream_app", "tail", "alerts", "--from-beginning",
             "--max-messages", "1", "--timeout", "15"],
            env={**os.environ, **settings.to_env()}, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        assert tail.returncode == 0 and '"alert_id"' in tail.stdout, tail.stdout + tail.stderr

    # Metrics are served on the configured address, and only there.
    metrics = http_get(settings.http_host, settings.http_port, "/metrics")
    consumed = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("decay_events_consumed_total")
    )
    assert consumed == len(events)
    assert cluster.password not in metrics
    if settings.http_host != "127.0.0.1":
        with pytest.raises(OSError):
            http_get("127.0.0.1", settings.http_port, "/metrics")

    # The log at INFO: no password, no raw user id of the replayed events.
    worker.stop()
    log_text = worker.log_path.read_text(errors="replace")
    assert "ready" in log_text.lower(), log_text[-2000:]  # the worker did log at INFO
    assert cluster.password not in log_text
    ids = sorted({e.user_id for e in events} - {str(worker.process.pid)})
    found = re.findall(r"(?<!\d)(" + "|".join(ids) + r")(?!\d)", log_text)
    assert not found, f"user ids in the worker log: {sorted(set(found))[:5]}"


def test_wrong_password_fails_with_a_clear_error(
    cluster: SecureCluster, secure_settings: Settings, tmp_path: Path
) -> None:
    wrong = "wrong-" + secrets.token_hex(8)
    settings = secure_settings.model_copy(update={"sasl_password": SecretStr(wrong)})
    client = {**kafka_python_config(settings), "bootstrap_timeout_ms": 5_000}
    with pytest.raises(KafkaConnectError, match="refused the login") as failure:
        ensure_topic(cluster.bootstrap, settings.events_topic, 1, client_config=client)
    assert "invalid credentials" in str(failure.value)
    assert wrong not in str(failure.value)

    # The worker says so in one line and exits; neither password is in its log.
    log_path = tmp_path / "wrong-password.log"
    process = spawn_worker(settings, log_path=log_path)
    try:
        assert process.wait(timeout=120) == 2
    finally:
        if process.poll() is None:
            process.kill()
    log_text = log_path.read_text(errors="replace")
    assert "cannot connect to Kafka" in log_text, log_text
    assert "refused the login" in log_text and "invalid credentials" in log_text, log_text
    assert wrong not in log_text and cluster.password not in log_text


def test_untrusted_broker_certificate_fails_with_a_clear_error(
    cluster: SecureCluster, secure_settings: Settings
) -> None:
    settings = secure_settings.model_copy(update={"ssl_cafile": None})  # system CAs only
    client = {**kafka_python_config(settings), "bootstrap_timeout_ms": 3_000}
    with pytest.raises(KafkaConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        ensure_topic(cluster.bootstrap, settings.events_topic, 1, client_config=client)
