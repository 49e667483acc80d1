"""The one settings object. The only module that reads the environment (prefix `DECAY_`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from stream_app.events.partitioning import Partitioner
from stream_app.kafka.redaction import register_secret
from stream_app.paths import DEFAULT_MODEL_PATH, DEFAULT_POLICY_PATH

ENV_PREFIX = "DECAY_"
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class Settings(BaseSettings):
    """Worker configuration; every field is also `DECAY_<FIELD>` in the environment."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    # Kafka connection
    bootstrap_servers: str | None = Field(
        None, description="host:port[,host:port]; unset = start the embedded local broker"
    )
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_check_hostname: bool = True
    kafka_connect_timeout_seconds: float = Field(
        30.0, gt=0, description="how long a command waits for a first broker answer"
    )

    # Application and topics
    app_id: str = Field("decay-stream", description="consumer group id and topic prefix")
    events_topic: str = "decay.events"
    dead_letter_topic: str = "decay.events.dlq"
    alerts_topic: str = "decay.alerts"
    actions_topic: str = "decay.actions"
    control_actions_topic: str = Field(
        "decay.actions.control",
        description="the control group's records (`control: true`, no action taken): never on"
        " the actions topic",
    )
    ticks_topic: str = "decay.ticks"
    partitions: int = Field(8, ge=1, description="partitions of every topic (= max parallelism)")
    producer_partitioner: Partitioner = Field(
        Partitioner.MURMUR2,
        description="the events' producers' keyed partitioner: murmur2 (Java, kafka-python,"
        " aiokafka) or crc32 (librdkafka's default: confluent-kafka, Go, .NET, Node, kcat)",
    )
    replication_factor: int = Field(1, ge=1)
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    commit_interval_seconds: float = Field(1.0, gt=0)
    session_timeout_seconds: float = Field(
        10.0, gt=0, description="a crashed worker's partitions move after this long"
    )
    heartbeat_interval_seconds: float = Field(3.0, gt=0)
    group_instance_id: str | None = Field(
        None,
        description="static membership: a restarted worker with the same id keeps its partitions",
    )

    # State
    table_standby_replicas: int = Field(
        1,
        ge=0,
        description="Faust standby copies of each table partition on other workers: faster"
        " failover, each copy costs the memory of its users",
    )
    store_url: str = Field("memory://", description="memory:// or rocksdb:// (needs rocksdict)")
    data_dir: Path = Field(Path("var/worker"), description="worker data (RocksDB tables)")
    sequence_length: int = Field(50, ge=1, le=10_000, description="recent events kept per user")
    state_flush_seconds: float = Field(
        0.05,
        ge=0,
        description="while input waits, changelog records are sent at most this often (one per"
        " user written since); a loop that has caught up sends them at once",
    )

    # Model and scoring
    model_path: Path = Field(DEFAULT_MODEL_PATH, description="ONNX step graph")
    alerts_enabled: bool = Field(
        True,
        description="false: no model, no alerts (state only); else a bad model refuses to start",
    )
    model_prefer_cuda: bool = Field(True, description="try the CUDA execution provider first")
    model_reload_seconds: float = Field(
        10.0, gt=0, description="how often to look for a new artifact"
    )
    model_threads: int = Field(1, ge=1, le=16, description="ONNX Runtime intra-op threads")
    batch_max_events: int = Field(512, ge=1, description="events per batched model step, at most")
    batch_window_seconds: float = Field(0.005, gt=0, description="wait this long to fill a batch")

    # Activation policy
    policy_path: Path | None = Field(
        DEFAULT_POLICY_PATH, description="TOML policy file; empty = alerts only, no actions"
    )

    # Alerts in silence
    alert_warning: float = Field(
        0.9, gt=0, lt=1, description="`warning`: P(return within H) at this share of its peak"
    )
    alert_at_risk: float = Field(0.8, gt=0, lt=1, description="`at_risk`: share of the peak")
    alert_critical: float = Field(0.7, gt=0, lt=1, description="`critical`: share of the peak")
    alert_min_silence_gaps: float = Field(
        1.0,
        ge=0,
        description="`warning` waits this many usual gaps of silence (at_risk 1.5x, critical 2x)",
    )
    alert_prior_gap_days: float = Field(
        30.0, gt=0, description="usual gap assumed for a user with one event so far"
    )
    outcome_grace_seconds: float = Field(
        3600.0, ge=0, description="an alert counts as not returned this long after its horizon"
    )
    schedule_tick_seconds: float = Field(1.0, gt=0, description="how often due times are checked")
    calibration_online: bool = Field(
        False, description="correct the calibration intercept from the alerts' outcomes"
    )
    calibration_online_max_shift: float = Field(
        0.5, gt=0, le=3, description="bound of the online intercept shift (logit units)"
    )
    calibration_online_min_outcomes: int = Field(
        200, ge=1, description="resolved alerts a window needs before the shift moves"
    )
    calibration_online_interval_seconds: float = Field(
        300.0, gt=0, description="how often the online correction looks at the outcomes"
    )

    # Clock (simulation and tests): now = start + (wall - anchor) * factor
    clock_start_seconds: float | None = Field(None, description="simulated time at the anchor")
    clock_anchor_seconds: float | None = Field(None, description="wall time of the anchor")
    clock_factor: float = Field(1.0, gt=0, description="simulated seconds per wall second")

    # Validation
    max_event_bytes: int = Field(65_536, ge=256)
    dead_letter_max_bytes: int = Field(
        4 * 1024 * 1024,
        ge=16_384,
        description="largest dead letter: the topic's max.message.bytes when the worker creates"
        " it; a larger refused message is cut to a prefix (checked against the topic at start)",
    )
    producer_max_request_bytes: int = Field(
        4 * 1024 * 1024, ge=16_384, description="the worker's producer max_request_size"
    )
    max_future_skew_seconds: float = Field(86_400.0, ge=0)
    min_event_epoch_seconds: float = Field(946_684_800.0, description="2000-01-01T00:00:00Z")

    stall_seconds: float = Field(
        120.0,
        gt=0,
        description="a partition with messages waiting and no progress this long"
        " makes the worker unhealthy (/health 503, decay_partition_stalls_total)",
    )

    # HTTP (health, metrics)
    http_enabled: bool = True
    http_host: str = "0.0.0.0"  # noqa: S104 - a worker serves its own /metrics to Prometheus
    http_port: int = Field(6066, ge=0, le=65535)

    # Embedded local broker (used when bootstrap_servers is unset)
    local_kafka_dir: Path = Path("var/kafka-local")
    local_kafka_port: int = 9092

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: `text` (one line per record) or `json` (one JSON object per line, for log pipelines).
    log_format: Literal["text", "json"] = "text"

    # Schema registry (`decay-stream schemas register`), Confluent-compatible REST API
    schema_registry_url: str | None = None
    schema_registry_username: str | None = None
    schema_registry_password: SecretStr | None = None

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_port_entries(cls, value: str | None) -> str | None:
        """`host:port[,host:port]`: no scheme, no login (those are their own settings)."""
        if value is None:
            return None
        if "@" in value or "://" in value:
            raise ValueError(
                "give host:port[,host:port] only: no scheme and no user or password (set"
                " DECAY_SECURITY_PROTOCOL, DECAY_SASL_USERNAME and DECAY_SASL_PASSWORD)"
            )
        for entry in value.split(","):
            host, _, port = entry.strip().rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError("each entry must be host:port with a port from 1 to 65535")
        return value

    @field_validator("policy_path", mode="before")
    @classmethod
    def _empty_policy_is_none(cls, value: object) -> object:
        """`DECAY_POLICY_PATH=` (empty) means no policy, not the current directory."""
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _check_security(self) -> Settings:
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_username and self.sasl_password
        ):
            raise ValueError("SASL needs DECAY_SASL_USERNAME and DECAY_SASL_PASSWORD")
        return self

    @model_validator(mode="after")
    def _check_heartbeat(self) -> Settings:
        if self.heartbeat_interval_seconds * 3 > self.session_timeout_seconds:
            raise ValueError("heartbeat interval must be at most a third of the session timeout")
        return self

    @model_validator(mode="after")
    def _check_thresholds(self) -> Settings:
        if not self.alert_warning > self.alert_at_risk > self.alert_critical:
            raise ValueError("alert thresholds must satisfy warning > at_risk > critical")
        return self

    def dead_letter_budget_bytes(self, topic_max_bytes: int | None = None) -> int:
        """The most bytes a dead letter may take: the setting, the producer's and the topic's."""
        limits = [self.dead_letter_max_bytes, self.producer_max_request_bytes]
        return min(limits + ([topic_max_bytes] if topic_max_bytes else []))

    def to_env(self) -> dict[str, str]:
        """The settings as `DECAY_*` environment variables, the inverse of loading them.

        Secrets are included in clear: for the environment of a child process only.
        """
        env = {}
        for name, value in self.model_dump().items():
            variable = f"{ENV_PREFIX}{name.upper()}"
            if value is None:
                if type(self).model_fields[name].default is not None:
                    env[variable] = ""  # e.g. no policy: empty, not the default
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[variable] = str(value)
        return env


class SettingsError(ValueError):
    """The environment does not make valid settings; the message names fields, never values."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid settings: " + "; ".join(problems))
        #: One line per problem, `DECAY_<FIELD>: reason`.
        self.problems = [f"invalid settings: {problem}" for problem in problems]


def secret_fields() -> list[str]:
    """Names of the settings that hold secrets (`SecretStr`)."""
    return [
        name for name, info in Settings.model_fields.items() if "SecretStr" in str(info.annotation)
    ]


def problems_of(exc: ValidationError, secrets: list[str]) -> list[str]:
    """`DECAY_<FIELD>: reason` per problem, never the input value; known secrets masked."""
    lines = []
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        field = ".".join(str(part) for part in error["loc"])
        where = f"{ENV_PREFIX}{field.upper()}: " if field else ""
        line = where + str(error["msg"]).removeprefix("Value error, ")
        for secret in secrets:
            if len(secret) >= 3:
                line = line.replace(secret, "***")
        lines.append(line)
    return lines


def describe_errors(exc: ValidationError, secrets: list[str]) -> str:
    """The problems of `problems_of` as one line."""
    return "invalid settings: " + "; ".join(problems_of(exc, secrets))


def prefixed_environment() -> dict[str, str]:
    """The `DECAY_*` variables of this process (for the check of names no setting reads)."""
    return {name: value for name, value in os.environ.items() if name.startswith(ENV_PREFIX)}


def load_settings() -> Settings:
    """Settings from the environment; SettingsError says what is wrong, without any value.

    Every secret read (a `SecretStr` setting) is registered for redaction in all output.
    """
    secrets = [os.environ.get(f"{ENV_PREFIX}{name.upper()}", "") for name in secret_fields()]
    for secret in secrets:
        register_secret(secret)
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(problems_of(exc, secrets)) from None
