"""Observability on the real broker: the worker's /metrics counts what was sent, and a real
Prometheus server scrapes it, loads the alert rules and answers the dashboard's queries."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from stream_app.commands.replay import replay
from stream_app.data.sources import load_events
from stream_app.events.schema import Event
from stream_app.kafka.clients import new_producer
from stream_app.kafka.local import free_port
from stream_app.kafka.reading import wait_caught_up
from stream_app.settings import Settings
from tests.deploy.manifests import ALERT_RULES, dashboard_exprs
from tests.integration.support import WorkerFactory, WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(worker: WorkerProcess) -> Samples:
    """Every sample of the worker's /metrics page."""
    text = worker.http_get("/metrics")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def by_label(samples: Samples, name: str, label: str) -> dict[str, float]:
    """Values of one labelled metric, keyed by that label (zeros left out)."""
    out: dict[str, float] = {}
    for (sample_name, labels), value in samples.items():
        if sample_name == name and value:
            out[dict(labels)[label]] = out.get(dict(labels)[label], 0.0) + value
    return out


def value(samples: Samples, name: str) -> float:
    return sum(v for (sample_name, _), v in samples.items() if sample_name == name)


def eventually(check: Callable[[], Any], timeout_seconds: float = 30.0) -> Any:
    """The first truthy result of `check`, polled until the timeout; the last error otherwise."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            result = check()
            if result:
                return result
            error: Exception = AssertionError(f"still {result!r}")
        except (AssertionError, OSError) as exc:
            error = exc
        if time.monotonic() > deadline:
            raise error
        time.sleep(0.5)


def bad_messages(user_key: bytes, event_time: float) -> list[tuple[str, bytes | None, bytes]]:
    """(expected reason, key, value): malformed events the worker must refuse."""

    def event(**fields: object) -> bytes:
        base: dict[str, object] = {
            "user_id": user_key.decode(),
            "ts": event_time,
            "type": "view",
            "item_id": "i1",
        }
        base.update(fields)
        return json.dumps({k: v for k, v in base.items() if v is not None}).encode()

    return [
        ("invalid_json", user_key, b'{"user_id": '),
        ("not_an_object", user_key, b"[1, 2, 3]"),
        ("missing_field", user_key, event(ts=None)),
        ("missing_field", user_key, event(item_id=None)),
        ("wrong_type", user_key, event(price="12.50")),
        ("invalid_value", user_key, event(type="teleport")),
        ("ts_out_of_range", user_key, event(ts=-1)),
        ("ts_out_of_range", user_key, event(ts=event_time * 1000)),
        ("not_utf8", user_key, b'{"user_id": "\xff\xfe"}'),
        ("key_mismatch", b"someone-else", event()),
        ("key_mismatch", None, event()),
    ]


@pytest.fixture(scope="module")
def taobao_events(shared_data: Path) -> list[Event]:
    return list(load_events("taobao-slice", shared_data))[:5_000]


def test_metrics_count_what_was_sent(
    settings: Settings, workers: WorkerFactory, taobao_events: list[Event]
) -> None:
    worker = workers.start(settings)
    bootstrap = settings.bootstrap_servers
    assert bootstrap
    events = taobao_events[:3_000]
    assert replay(
        events,
        bootstrap=bootstrap,
        topic=settings.events_topic,
        partitions=settings.partitions,
        progress=False,
    ) == len(events)
    bad = bad_messages(b"bad-user", max(e.ts_seconds for e in events))
    producer = new_producer(bootstrap)
    for _, key, payload in bad:
        producer.send(settings.events_topic, key=key, value=payload)
    producer.flush()
    producer.close()
    wait_caught_up(bootstrap, settings.app_id, settings.events_topic, timeout_seconds=60)

    sent_by_type = Counter(e.type.value for e in events)
    rejected_by_reason = Counter(reason for reason, _, _ in bad)
    samples = eventually(
        lambda: (
            (s := scrape(worker))
            and by_label(s, "decay_events_consumed_total", "type") == sent_by_type
            and by_label(s, "decay_events_rejected_total", "reason") == rejected_by_reason
            and s
        )
    )
    assert value(samples, "decay_dead_letter_messages_total") == len(bad)
    assert value(samples, "decay_event_failures_total") == 0
    assert value(samples, "decay_events_duplicate_total") == 0
    # One worker holds every partition: it tracks every user (the gauge refreshes on a timer).
    users = {e.user_id for e in events}
    eventually(lambda: value(scrape(worker), "decay_users_tracked") == len(users), 15)

    for path in ("/health", "/health/live", "/health/ready"):
        assert json.loads(worker.http_get(path))["status"] in {"ok", "ready"}


# ---------------------------------------------------------------- a real Prometheus server


class Prometheus:
    """A Prometheus server (Debian's package binary) on a free 127.0.0.1 port."""

    def __init__(self, binary: str, workdir: Path, targets: list[str]) -> None:
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(ALERT_RULES)],
            "scrape_configs": [
                {"job_name": "decay-stream", "static_configs": [{"targets": targets}]}
            ],
        }
        config_path = workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config))
        self.log_path = workdir / "prometheus.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config_path}",
                    f"--storage.tsdb.path={workdir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as response:
            return json.loads(response.read()) if "/api/" in path else response.read()

    def query(self, expr: str) -> list[dict[str, Any]]:
        body = self.get("/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def scalar(self, expr: str) -> float:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else 0.0

    def wait_ready(self) -> None:
        def ready() -> bool:
            assert self.process.poll() is None, self.log()
            self.get("/-/ready")
            return True

        eventually(ready, 30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def prometheus_binary() -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip(
            "prometheus binary not installed (Debian package `prometheus`; .ci/run installs it)"
        )
    return binary


@pytest.fixture
def prometheus_for(prometheus_binary: str, tmp_path: Path) -> Iterator[Callable[..., Prometheus]]:
    started: list[Prometheus] = []

    def start(targets: list[str]) -> Prometheus:
        workdir = tmp_path / f"prometheus-{len(started)}"
        workdir.mkdir()
        server = Prometheus(prometheus_binary, workdir, targets)
        started.append(server)
        server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()


def test_prometheus_scrapes_the_worker_during_a_replay(
    settings: Settings,
    workers: WorkerFactory,
    taobao_events: list[Event],
    prometheus_for: Callable[..., Prometheus],
) -> None:
    worker = workers.start(settings)
    bootstrap = settings.bootstrap_servers
    assert bootstrap
    prometheus = prometheus_for([f"127.0.0.1:{settings.http_port}"])
    eventually(lambda: prometheus.scalar('up{job="decay-stream"}') == 1, 20)

    # Five slices a second apart, so that Prometheus sees the counters move.
    def produce() -> None:
        for start in range(0, len(taobao_events), 1_000):
            replay(
                taobao_events[start : start + 1_000],
                bootstrap=bootstrap,
                topic=settings.events_topic,
                partitions=settings.partitions,
                progress=False,
            )
            time.sleep(1.0)

    producer = threading.Thread(target=produce)
    producer.start()
    eventually(lambda: prometheus.scalar("sum(decay_events_consumed_total)") > 0, 30)
    producer.join()
    wait_caught_up(bootstrap, settings.app_id, settings.events_topic, timeout_seconds=60)

    total = len(taobao_events)
    eventually(lambda: prometheus.scalar("sum(decay_events_consumed_total)") == total, 20)
    by_type = {
        series["metric"]["type"]: float(series["value"][1])
        for series in prometheus.query("decay_events_consumed_total")
    }
    assert {k: v for k, v in by_type.items() if v} == Counter(e.type.value for e in taobao_events)
    for series in prometheus.query("decay_events_consumed_total"):
        assert series["metric"]["job"] == "decay-stream"
        assert series["metric"]["instance"] == f"127.0.0.1:{settings.http_port}"
    assert prometheus.scalar("sum(increase(decay_events_consumed_total[1m]))") > 0
    assert prometheus.scalar('up{job="decay-stream"}') == 1
    eventually(lambda: prometheus.scalar("decay_users_tracked") > 0, 15)
    assert worker.alive

    # The alert rules load and evaluate on a real server.
    groups = prometheus.get("/api/v1/rules")["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    declared = yaml.safe_load(ALERT_RULES.read_text())["groups"]
    assert len(rules) == sum(len(group["rules"]) for group in declared)
    eventually(
        lambda: all(
            rule.get("health") == "ok"
            for group in prometheus.get("/api/v1/rules")["data"]["groups"]
            for rule in group["rules"]
        ),
        15,
    )
    firing = {rule["name"] for rule in rules if rule.get("state") == "firing"}
    assert "DecayWorkerDown" not in firing

    # Every dashboard query is valid PromQL on this server.
    grafana = {"$__rate_interval": "15s", "$instance": ".*", "${instance}": ".*"}
    for where, expr in dashboard_exprs():
        if expr.startswith("label_values("):
            expr = expr.removeprefix("label_values(").rsplit(",", 1)[0]
        for variable, replacement in grafana.items():
            expr = expr.replace(variable, replacement)
        body = prometheus.get("/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        assert body["status"] == "success", (where, expr, body)
