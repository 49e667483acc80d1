"""Settings errors name the variable and the reason, never a value: no secret reaches the terminal."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from stream_app import cli
from stream_app.settings import ENV_PREFIX, Settings, describe_errors, secret_fields

SECRET = "s3cr3t-Pa55word-that-must-not-leak"

#: One environment per kind of error: (variables, text the one-line error must name).
ERROR_KINDS: dict[str, tuple[dict[str, str], str]] = {
    "int_parsing": ({"DECAY_PARTITIONS": "eight"}, "DECAY_PARTITIONS"),
    "greater_than_equal": ({"DECAY_PARTITIONS": "0"}, "DECAY_PARTITIONS"),
    "float_parsing": ({"DECAY_CLOCK_FACTOR": "fast"}, "DECAY_CLOCK_FACTOR"),
    "bool_parsing": ({"DECAY_HTTP_ENABLED": "perhaps"}, "DECAY_HTTP_ENABLED"),
    "literal_error": ({"DECAY_SECURITY_PROTOCOL": "SASL_TLS"}, "DECAY_SECURITY_PROTOCOL"),
    "sasl_without_user": ({"DECAY_SECURITY_PROTOCOL": "SASL_SSL"}, "DECAY_SASL_USERNAME"),
    "heartbeat": ({"DECAY_HEARTBEAT_INTERVAL_SECONDS": "9"}, "heartbeat"),
    "thresholds": ({"DECAY_ALERT_CRITICAL": "0.85"}, "thresholds"),
    "secret_in_other_field": ({"DECAY_APP_ID": "", "DECAY_HTTP_PORT": SECRET}, "DECAY_HTTP_PORT"),
    "login_in_bootstrap": (
        {"DECAY_BOOTSTRAP_SERVERS": f"sasl_ssl://u:{SECRET}@kafka:9093"},
        "DECAY_SASL_PASSWORD",
    ),
    "bootstrap_without_port": ({"DECAY_BOOTSTRAP_SERVERS": "kafka"}, "DECAY_BOOTSTRAP_SERVERS"),
}


def test_the_password_is_the_secret_field() -> None:
    assert secret_fields() == ["sasl_password", "schema_registry_password"]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


@pytest.mark.parametrize("secret_field", secret_fields())
@pytest.mark.parametrize("kind", sorted(ERROR_KINDS))
def test_no_settings_error_shows_a_secret(
    kind: str,
    secret_field: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    variables, named = ERROR_KINDS[kind]
    monkeypatch.setenv(f"{ENV_PREFIX}{secret_field.upper()}", SECRET)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["tail", "alerts"]) == 2
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert "input_value" not in err and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: invalid settings: ")
    assert named in lines[0]


def test_a_validation_error_on_the_secret_itself_shows_no_value() -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(sasl_password=[SECRET])  # type: ignore[arg-type]
    text = describe_errors(raised.value, [SECRET])
    assert SECRET not in text and "DECAY_SASL_PASSWORD" in text


def test_a_secret_in_a_reason_is_masked() -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(partitions=SECRET)  # type: ignore[arg-type]
    assert SECRET not in describe_errors(raised.value, [SECRET])


def test_a_missing_tls_file_names_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "ca.crt"
    monkeypatch.setattr(cli, "configure_logging", lambda *_: None)  # would outlive the test
    monkeypatch.setenv("DECAY_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("DECAY_SSL_CAFILE", str(missing))
    monkeypatch.setenv("DECAY_BOOTSTRAP_SERVERS", "127.0.0.1:9")
    assert cli.main(["tail", "alerts"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: invalid settings: DECAY_SSL_CAFILE: {missing}: no such file\n"
