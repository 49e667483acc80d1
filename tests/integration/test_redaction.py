"""No secret on any path: every output of real runs with passwords in the settings and URLs.

A SASL_SSL broker of its own; a real worker at DEBUG with the SASL password, a registry URL
carrying a login and a registry password processes real events; then `check`, `tail`, `replay`,
`schemas register` and `worker` run with a password in the bootstrap address, in the registry
URL and with a wrong login. Every line they write (stdout, stderr, the worker's log) is searched
for each password, raw and URL-encoded.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr

from stream_app.commands.replay import replay
from stream_app.kafka.connection import kafka_python_config
from stream_app.kafka.local import LocalKafka, free_port
from stream_app.kafka.local_tls import SASL_SSL_LISTENER, LocalTls, sasl_ssl_kafka
from stream_app.kafka.reading import wait_caught_up
from stream_app.settings import Settings
from tests.conftest import FIXTURES
from tests.integration.support import WorkerFactory, retail_events

pytestmark = [pytest.mark.integration, pytest.mark.slow]

USER = "decay-worker"
SAMPLE = str(FIXTURES / "online_retail_sample.csv")


@dataclass(frozen=True)
class Secrets:
    sasl: str
    registry_url: str
    registry: str

    def all(self) -> list[str]:
        raw = [self.sasl, self.registry_url, self.registry]
        return raw + [urllib.parse.quote(s, safe="") for s in raw]


@dataclass(frozen=True)
class Cluster:
    broker: LocalKafka
    tls: LocalTls
    secrets: Secrets

    @property
    def bootstrap(self) -> str:
        return self.broker.listener_bootstrap_servers(SASL_SSL_LISTENER)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    found = Secrets(
        sasl="sasl-" + secrets.token_hex(12),
        registry_url="url-" + secrets.token_hex(12),
        registry="reg-" + secrets.token_hex(12),
    )
    broker, tls = sasl_ssl_kafka(tmp_path_factory.mktemp("kafka-redact"), {USER: found.sasl})
    broker.start()
    yield Cluster(broker, tls, found)
    broker.stop()


@pytest.fixture
def secure(cluster: Cluster, tmp_path: Path) -> Settings:
    app_id = f"red-{uuid.uuid4().hex[:10]}"
    closed = free_port()
    return Settings(
        bootstrap_servers=cluster.bootstrap,
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username=USER,
        sasl_password=SecretStr(cluster.secrets.sasl),
        ssl_cafile=cluster.tls.ca_file,
        schema_registry_url=f"http://svc:{cluster.secrets.registry_url}@127.0.0.1:{closed}/",
        schema_registry_password=SecretStr(cluster.secrets.registry),
        app_id=app_id,
        events_topic=f"{app_id}.events",
        dead_letter_topic=f"{app_id}.dlq",
        alerts_topic=f"{app_id}.alerts",
        actions_topic=f"{app_id}.actions",
        control_actions_topic=f"{app_id}.actions.control",
        ticks_topic=f"{app_id}.ticks",
        partitions=2,
        commit_interval_seconds=0.5,
        http_host="127.0.0.1",
        http_port=free_port(),
        data_dir=tmp_path / "worker",
        log_level="DEBUG",
        kafka_connect_timeout_seconds=5,
    )


def cli(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    child = {k: v for k, v in os.environ.items() if not k.startswith("DECAY_")}
    child |= settings.to_env() | env
    return subprocess.run(
        [sys.executable, "-m", "stream_app", *args],
        env=child, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def leaks(text: str, found: Secrets) -> list[str]:
    return [secret for secret in found.all() if secret in text]


def test_no_output_of_a_real_run_holds_a_password(
    cluster: Cluster, secure: Settings, workers: WorkerFactory
) -> None:
    found = cluster.secrets
    worker = workers.start(secure, "redact")
    client = kafka_python_config(secure)
    events = retail_events()[:300]
    replay(
        events, bootstrap=cluster.bootstrap, topic=secure.events_topic,
        partitions=secure.partitions, progress=False, client_config=client,
    )  # fmt: skip
    wait_caught_up(
        cluster.bootstrap, secure.app_id, secure.events_topic,
        timeout_seconds=120, client_config=client,
    )  # fmt: skip
    worker.stop()
    outputs = {"worker log": worker.log_path.read_text(errors="replace")}
    assert "DEBUG" in outputs["worker log"], "the worker ran at DEBUG"

    in_address = f"sasl_ssl://{USER}:{found.sasl}@{cluster.bootstrap}"
    runs = {
        "check": cli(secure, "check"),
        "tail": cli(secure, "tail", "events", "--from-beginning", "--max-messages", "3",
                    "--timeout", "10"),
        "replay": cli(secure, "replay", "--quiet", "--limit", "20", SAMPLE),
        "schemas register": cli(secure, "schemas", "register"),
        "schemas register --registry": cli(
            secure, "schemas", "register", "--registry",
            f"https://svc:{found.registry_url}@127.0.0.1:{free_port()}",
        ),
        "schemas register, not http": cli(
            secure, "schemas", "register", "--registry", f"ftp://svc:{found.registry_url}@host/"
        ),
        "worker, login in the address": cli(
            secure, "worker", DECAY_BOOTSTRAP_SERVERS=in_address
        ),
        "tail, login in the address": cli(
            secure, "tail", "alerts", DECAY_BOOTSTRAP_SERVERS=in_address
        ),
        "tail, wrong user": cli(
            secure, "tail", "alerts", "--timeout", "3", DECAY_SASL_USERNAME="nobody"
        ),
    }  # fmt: skip
    for name, result in runs.items():
        outputs[name] = result.stdout + result.stderr
        assert "Traceback" not in outputs[name], (name, outputs[name])
    assert runs["check"].returncode == 0, outputs["check"]
    assert runs["tail"].returncode == 0 and '"user_id"' in runs["tail"].stdout, outputs["tail"]
    assert runs["replay"].returncode == 0, outputs["replay"]
    for refused in ("schemas register", "schemas register --registry", "schemas register, not http",
                    "worker, login in the address", "tail, login in the address",
                    "tail, wrong user"):  # fmt: skip
        assert runs[refused].returncode == 2, (refused, outputs[refused])
        assert runs[refused].stderr.splitlines()[-1].startswith("error: "), outputs[refused]
    found_leaks = {name: leaks(text, found) for name, text in outputs.items()}
    assert not any(found_leaks.values()), found_leaks
