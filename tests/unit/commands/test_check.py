"""`decay-stream check`: each kind of problem is one line naming the variable or the file."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from stream_app.commands.check import (
    PreflightError,
    model_problems,
    policy_problems,
    preflight,
    run_check,
    tls_problems,
    topic_problems,
    unknown_variables,
)
from stream_app.paths import DEFAULT_MODEL_PATH, DEFAULT_SEQUENCE_MODEL_PATH
from stream_app.settings import Settings


def test_the_package_defaults_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert preflight(Settings(), {}) == []
    assert run_check(Settings(), argparse.Namespace(quiet=False), {}) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == ["settings", "policy", "model", "tls", "topics"]


def test_a_misspelled_variable_names_the_nearest_setting() -> None:
    found = unknown_variables({"DECAY_PARTITONS": "4", "DECAY_PARTITIONS": "4", "HOME": "/"})
    assert found == ["DECAY_PARTITONS: no such setting (did you mean DECAY_PARTITIONS?)"]
    assert unknown_variables({"DECAY_ZZZ": "1"}) == ["DECAY_ZZZ: no such setting"]


def test_kubernetes_service_links_are_not_settings() -> None:
    links = {
        "DECAY_STREAM_SERVICE_HOST": "10.0.0.1",
        "DECAY_STREAM_SERVICE_PORT": "6066",
        "DECAY_STREAM_SERVICE_PORT_HTTP": "6066",
        "DECAY_STREAM_PORT": "tcp://10.0.0.1:6066",
        "DECAY_STREAM_PORT_6066_TCP_ADDR": "10.0.0.1",
    }
    assert unknown_variables(links) == []
    assert unknown_variables({"DECAY_TEST_FLOOD_EVENTS": "1000000"}) == []
    assert unknown_variables({"DECAY_HTP_PORT": "6066"}) != []


def test_a_broken_policy_is_one_line_per_key(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("version = 1\nno_such_key = 2\n[coupon]\nvalue = 'x'\n")
    lines = policy_problems(Settings(policy_path=policy))
    assert len(lines) >= 2 and all(line.startswith("DECAY_POLICY_PATH: ") for line in lines)
    assert any("no_such_key: unknown key" in line for line in lines), lines
    missing = policy_problems(Settings(policy_path=tmp_path / "nope.toml"))
    assert missing == [f"DECAY_POLICY_PATH: {tmp_path / 'nope.toml'}: policy file not found"]
    assert policy_problems(Settings(policy_path=None)) == []


def test_the_model_is_checked_against_the_contract(tmp_path: Path) -> None:
    assert model_problems(Settings(model_path=DEFAULT_MODEL_PATH)) == []
    (line,) = model_problems(Settings(model_path=DEFAULT_SEQUENCE_MODEL_PATH))
    assert "cannot serve" in line and "'sequence'" in line
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not onnx")
    assert "cannot serve" in model_problems(Settings(model_path=broken))[0]
    assert model_problems(Settings(model_path=tmp_path / "no.onnx", alerts_enabled=False)) == []


def test_tls_files_name_their_variable(tmp_path: Path) -> None:
    missing = Settings(security_protocol="SSL", ssl_cafile=tmp_path / "ca.pem")
    assert tls_problems(missing) == [f"DECAY_SSL_CAFILE: {tmp_path / 'ca.pem'}: no such file"]
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate")
    (line,) = tls_problems(Settings(security_protocol="SSL", ssl_cafile=garbage))
    assert line.startswith("TLS files (DECAY_SSL_CAFILE) cannot be loaded")
    (unused,) = tls_problems(Settings(ssl_cafile=garbage))
    assert "does not use TLS" in unused


def test_topic_names_are_kafka_names() -> None:
    (line,) = topic_problems(Settings(alerts_topic="my alerts"))
    assert line.startswith("DECAY_ALERTS_TOPIC: 'my alerts'")
    assert "share a name" in topic_problems(Settings(alerts_topic="decay.actions"))[0]


def test_check_raises_one_problem_per_line(tmp_path: Path) -> None:
    settings = Settings(policy_path=tmp_path / "nope.toml", events_topic="a b")
    with pytest.raises(PreflightError) as raised:
        run_check(settings, argparse.Namespace(quiet=True), {"DECAY_PARTITONS": "4"})
    assert len(raised.value.problems) == 3


def test_an_optional_dependency_that_is_missing_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from stream_app.commands import check

    assert check.module_problems(Settings(store_url="rocksdb://", log_format="json")) == []
    monkeypatch.setattr(check, "find_spec", lambda name: None)
    problems = check.module_problems(Settings(store_url="rocksdb://", log_format="json"))
    assert problems == [
        "DECAY_STORE_URL=rocksdb:// needs rocksdict: pip install 'decay-stream[rocksdb]'",
        "DECAY_LOG_FORMAT=json needs pythonjsonlogger: pip install 'decay-stream[json-logs]'",
    ]
    assert check.module_problems(Settings()) == []
