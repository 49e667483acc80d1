"""Security settings: one Settings object feeds every client; secrets stay out of reprs and logs."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from kafka.errors import KafkaTimeoutError
from pydantic import SecretStr, ValidationError

from stream_app.commands.broker import embedded_broker
from stream_app.kafka import clients as kafka_io
from stream_app.kafka.clients import KafkaConnectError, explained_connection_errors, login_failure
from stream_app.kafka.connection import kafka_python_config, ssl_context
from stream_app.kafka.local import LocalKafka, free_port
from stream_app.kafka.local_config import KafkaLocalError, broker_properties
from stream_app.kafka.local_tls import LocalTls, sasl_ssl_properties
from stream_app.runtime.app import broker_credentials
from stream_app.settings import Settings

PASSWORD = "s3cret-Pa55word"


def sasl_ssl(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "bootstrap_servers": "kafka-1:9093,kafka-2:9093",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": "decay",
        "sasl_password": SecretStr(PASSWORD),
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


def test_the_password_is_in_no_repr_or_dump() -> None:
    settings = sasl_ssl()
    for text in (
        repr(settings),
        str(settings),
        settings.model_dump_json(),
        str(settings.model_dump()),
    ):
        assert PASSWORD not in text
    assert PASSWORD not in repr(broker_credentials(settings))


def test_sasl_needs_a_user_and_a_password() -> None:
    with pytest.raises(ValidationError, match="SASL needs"):
        Settings(security_protocol="SASL_SSL", sasl_username="decay")


def test_kafka_python_clients_get_sasl_over_tls() -> None:
    config = kafka_python_config(sasl_ssl())
    assert config["security_protocol"] == "SASL_SSL"
    assert config["sasl_mechanism"] == "SCRAM-SHA-512"
    assert config["sasl_plain_username"] == "decay"
    assert config["sasl_plain_password"] == PASSWORD
    context = config["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED


def test_hostname_check_can_be_turned_off_and_plaintext_has_no_tls() -> None:
    context = ssl_context(sasl_ssl(ssl_check_hostname=False))
    assert context is not None and not context.check_hostname
    assert kafka_python_config(Settings()) == {
        "security_protocol": "PLAINTEXT",
        "bootstrap_timeout_ms": 30_000,
    }
    assert ssl_context(Settings()) is None
    plain = sasl_ssl(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN")
    assert "ssl_context" not in kafka_python_config(plain)


def test_faust_gets_the_same_credentials() -> None:
    auth = credentials_to_aiokafka_auth(broker_credentials(sasl_ssl()))
    assert auth["security_protocol"] == "SASL_SSL"
    assert auth["sasl_mechanism"] == "SCRAM-SHA-512"
    assert auth["sasl_plain_username"] == "decay"
    assert auth["sasl_plain_password"] == PASSWORD
    assert isinstance(auth["ssl_context"], ssl.SSLContext)
    tls_only = credentials_to_aiokafka_auth(broker_credentials(Settings(security_protocol="SSL")))
    assert tls_only["security_protocol"] == "SSL"
    assert broker_credentials(Settings()) is None


def test_child_processes_get_every_security_setting() -> None:
    settings = sasl_ssl(ssl_cafile=Path("/etc/kafka/ca.pem"), http_host="127.0.0.1")
    env = settings.to_env()
    assert env["DECAY_SASL_PASSWORD"] == PASSWORD
    assert env["DECAY_HTTP_HOST"] == "127.0.0.1"
    child = Settings.model_validate(
        {name.removeprefix("DECAY_").lower(): value for name, value in env.items()}
    )
    fields = ("security_protocol", "sasl_mechanism", "sasl_username", "sasl_password")
    for name in (*fields, "ssl_cafile", "ssl_check_hostname", "http_host"):
        assert getattr(child, name) == getattr(settings, name), name


def test_the_embedded_broker_is_refused_for_a_secured_protocol() -> None:
    settings = sasl_ssl(bootstrap_servers=None)
    with (
        pytest.raises(KafkaConnectError, match="DECAY_BOOTSTRAP_SERVERS"),
        embedded_broker(settings),
    ):
        pass


def test_a_named_login_failure_replaces_the_bootstrap_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reason = "Kafka at kafka:9093 refused the login: SaslAuthenticationFailed: invalid credentials"
    monkeypatch.setattr(kafka_io, "login_failure", lambda bootstrap, config: reason)
    with (
        pytest.raises(KafkaConnectError, match="refused the login"),
        explained_connection_errors("kafka:9093", kafka_python_config(sasl_ssl())),
    ):
        raise KafkaTimeoutError("Unable to bootstrap from kafka:9093")


def test_a_bootstrap_timeout_without_login_failure_says_no_broker_answered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kafka_io, "login_failure", lambda bootstrap, config: None)
    with (
        pytest.raises(KafkaConnectError, match="no broker answered at kafka:9093"),
        explained_connection_errors("kafka:9093", None),
    ):
        raise KafkaTimeoutError("Unable to bootstrap from kafka:9093")


def test_no_login_failure_for_plaintext_or_an_unreachable_broker() -> None:
    assert login_failure("127.0.0.1:1", None) is None  # plaintext: nothing to log in to
    closed = f"127.0.0.1:{free_port()}"
    config = kafka_python_config(sasl_ssl(ssl_check_hostname=False))
    assert login_failure(closed, config, timeout_seconds=3) is None  # refused, not a login


def test_sasl_ssl_listener_properties(tmp_path: Path) -> None:
    tls = LocalTls(tmp_path / "ca.pem", tmp_path / "broker.p12", "storepass")
    props = broker_properties(
        port=9092,
        controller_port=9093,
        log_dir=tmp_path,
        extra=sasl_ssl_properties(tls),
        listeners={"SASL_SSL": "SASL_SSL"},
        listener_ports={"SASL_SSL": 19094},
    )
    assert props["listeners"].split(",") == [
        "PLAINTEXT://127.0.0.1:9092",
        "SASL_SSL://127.0.0.1:19094",
        "CONTROLLER://127.0.0.1:9093",
    ]
    assert "SASL_SSL:SASL_SSL" in props["listener.security.protocol.map"]
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    assert props["listener.name.sasl_ssl.sasl.enabled.mechanisms"] == "SCRAM-SHA-256,SCRAM-SHA-512"
    assert "ScramLoginModule" in props["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]
    assert props["listener.name.sasl_ssl.ssl.keystore.location"] == str(tmp_path / "broker.p12")
    assert "storepass" not in repr(tls)


def test_local_broker_scram_users(tmp_path: Path) -> None:
    broker = LocalKafka(
        data_dir=tmp_path, extra_listeners={"SASL_SSL": "SASL_SSL"}, scram_users={"u": PASSWORD}
    )
    assert broker.listener_port("SASL_SSL") not in (broker.port, broker.controller_port)
    assert PASSWORD not in repr(broker)
    args = broker._scram_arguments()
    assert args.count("--add-scram") == 2
    assert f"SCRAM-SHA-512=[name=u,password={PASSWORD}]" in args
    with pytest.raises(KafkaLocalError):
        LocalKafka(data_dir=tmp_path, scram_users={"u": "a,b]"})._scram_arguments()


def test_every_setting_is_in_the_operations_guide() -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text("utf-8")
    missing = [name for name in Settings.model_fields if f"`DECAY_{name.upper()}`" not in guide]
    assert missing == []
