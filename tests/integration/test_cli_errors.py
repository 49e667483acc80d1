"""Misconfiguration on the command line: one clear line and exit code 2, never a traceback.

Each case runs `python -m stream_app` as a process against the session's real broker (or a
closed port, for the unreachable one); `--help` works on every subcommand, and options may come
before positional arguments.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from stream_app.kafka.local import free_port
from stream_app.settings import Settings
from tests.conftest import FIXTURES
from tests.integration.support import WorkerFactory

pytestmark = pytest.mark.integration

SAMPLE = str(FIXTURES / "online_retail_sample.csv")
SUBCOMMANDS = (
    ["worker"], ["replay"], ["tail"], ["kafka-local"], ["demo"], ["score"],
    ["policy"], ["policy", "simulate"],
)  # fmt: skip


def run_cli(
    settings: Settings, *args: str, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    child = {k: v for k, v in os.environ.items() if not k.startswith("DECAY_")}
    child |= settings.to_env() | env
    return subprocess.run(
        [sys.executable, "-m", "stream_app", *args],
        env=child, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def refused(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """The one `error:` line of a refusal with exit code 2, no traceback, no ERROR lines."""
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output, output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and result.stderr.strip().endswith(errors[0]), output
    noise = [line for line in output.splitlines() if " ERROR " in line or " kafka." in line]
    assert not noise, output
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


@pytest.mark.parametrize("command", ["worker", "tail", "replay"])
def test_an_unreachable_broker_is_one_line(settings: Settings, command: str) -> None:
    args = {
        "worker": ["worker"],
        "tail": ["tail", "alerts"],
        "replay": ["replay", "--quiet", SAMPLE],
    }
    closed = f"127.0.0.1:{free_port()}"
    result = run_cli(
        settings, *args[command],
        DECAY_BOOTSTRAP_SERVERS=closed, DECAY_KAFKA_CONNECT_TIMEOUT_SECONDS="2",
    )  # fmt: skip
    refused(result, "cannot connect to Kafka", closed)


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"DECAY_PARTITIONS": "eight"}, ("DECAY_PARTITIONS", "integer")),
        (
            {"DECAY_SECURITY_PROTOCOL": "SASL_SSL", "DECAY_SASL_PASSWORD": "pw-never-shown"},
            ("DECAY_SASL_USERNAME",),
        ),
    ],
)
def test_invalid_settings_are_one_line(
    settings: Settings, env: dict[str, str], words: tuple[str, ...]
) -> None:
    line = refused(run_cli(settings, "worker", **env), "invalid settings", *words)
    assert "pw-never-shown" not in line


def test_a_busy_http_port_is_one_line(settings: Settings) -> None:
    with socket.socket() as busy:
        busy.bind((settings.http_host, settings.http_port))
        busy.listen()
        refused(run_cli(settings, "worker"), "cannot serve HTTP", str(settings.http_port))


def test_replay_of_an_unknown_dataset_is_one_line(settings: Settings) -> None:
    refused(run_cli(settings, "replay", "no-such-dataset"), "no-such-dataset")


def test_tail_of_a_topic_not_created_is_one_line(settings: Settings) -> None:
    refused(run_cli(settings, "tail", "not-created-yet", "--timeout", "1"), "does not exist")


def test_a_missing_or_broken_model_refuses_to_start(settings: Settings, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.onnx")
    refused(run_cli(settings, "worker", DECAY_MODEL_PATH=missing), "no model file", missing)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx graph")
    refused(run_cli(settings, "worker", DECAY_MODEL_PATH=str(broken)), "cannot serve")


def test_alerts_off_runs_without_a_model(
    settings: Settings, workers: WorkerFactory, tmp_path: Path
) -> None:
    quiet = settings.model_copy(
        update={"model_path": tmp_path / "nope.onnx", "alerts_enabled": False}
    )
    worker = workers.start(quiet)
    assert worker.alive
    assert "DECAY_ALERTS_ENABLED=false" in worker.log()


@pytest.mark.parametrize("command", SUBCOMMANDS, ids=" ".join)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_subcommand_has_help(settings: Settings, command: list[str], flag: str) -> None:
    result = run_cli(settings, *command, flag, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: decay-stream " + " ".join(command))


def test_options_may_come_before_positional_arguments(settings: Settings, tmp_path: Path) -> None:
    replayed = run_cli(settings, "replay", "--limit", "20", "--quiet", SAMPLE)
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 20 events" in replayed.stderr
    out = tmp_path / "scores.csv"
    scored = run_cli(
        settings, "score", "--cutoff", "2010-12-15", "--format", "online-retail",
        "--out", str(out), SAMPLE,
    )  # fmt: skip
    assert scored.returncode == 0, scored.stderr
    assert out.read_text().startswith("user_id,p_return")


def test_the_worker_checks_everything_before_it_connects(
    settings: Settings, tmp_path: Path
) -> None:
    """A misspelled variable and a broken policy: one line each, and no broker is ever asked
    (the bootstrap address is a closed port, yet no connection error comes)."""
    policy = tmp_path / "policy.toml"
    policy.write_text("version = 1\nno_such_key = 2\n")
    result = run_cli(
        settings, "worker",
        DECAY_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}", DECAY_PARTITONS="4",
        DECAY_POLICY_PATH=str(policy), DECAY_KAFKA_CONNECT_TIMEOUT_SECONDS="30",
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors[0] == "error: DECAY_PARTITONS: no such setting (did you mean DECAY_PARTITIONS?)"
    assert any("no_such_key: unknown key" in line for line in errors), errors
    assert "cannot connect" not in result.stderr and "Traceback" not in result.stderr
    checked = run_cli(settings, "check", DECAY_PARTITONS="4", DECAY_POLICY_PATH=str(policy))
    assert checked.returncode == 2 and checked.stderr.splitlines() == errors
