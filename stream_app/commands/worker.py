"""`decay-stream worker`: run the stream worker until stopped."""

from __future__ import annotations

import argparse
import logging
import socket
import sys

from stream_app.commands.broker import embedded_broker
from stream_app.commands.check import PreflightError, preflight
from stream_app.commands.errors import UsageError
from stream_app.commands.logs import logging_config
from stream_app.commands.schemas import event_schema_ids
from stream_app.kafka.admin import topic_config_value
from stream_app.kafka.clients import ensure_topic
from stream_app.kafka.connection import kafka_python_config
from stream_app.kafka.partitions import PartitionCountError, check_partition_counts
from stream_app.settings import Settings, prefixed_environment
from stream_app.topology import changelog_topic, topic_specs

log = logging.getLogger("stream_app")


def run_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Check everything offline, create the topics the worker does not own, then run it in
    the foreground."""
    from stream_app.runtime.app import create_app

    problems = preflight(settings, prefixed_environment())
    if problems:
        raise PreflightError(problems)
    line_buffered_output()
    if settings.http_enabled:
        check_port_free(settings.http_host, settings.http_port)
    with embedded_broker(settings) as bootstrap:
        settings = settings.model_copy(update={"bootstrap_servers": bootstrap})
        for topic, config in topic_specs(settings).items():
            ensure_topic(
                bootstrap, topic, settings.partitions, config,
                kafka_python_config(settings), settings.replication_factor,
            )  # fmt: skip
        try:
            check_partition_counts(
                bootstrap, settings.partitions, topic_specs(settings),
                [changelog_topic(settings.app_id)], kafka_python_config(settings),
            )  # fmt: skip
        except PartitionCountError as exc:
            raise UsageError(str(exc)) from None
        engine = create_app(
            dead_letter_limit_checked(settings), schema_ids=event_schema_ids(settings)
        )
        json_logs = settings.log_format == "json"
        engine.run(logging_config(settings.log_level, "json") if json_logs else None)
    return 0


def line_buffered_output() -> None:
    """Write each log line through at once, also when stdout is a file or a pipe.

    Faust logs to stdout, which Python buffers in 8 KiB blocks when it is not a terminal: a
    container's or a supervisor's log would otherwise lag behind the worker by minutes.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)


def check_port_free(host: str, port: int) -> None:
    """UsageError when the HTTP port for /metrics and /health cannot be bound."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UsageError(
                f"cannot serve HTTP on {host}:{port}: {exc.strerror}"
                " (set DECAY_HTTP_PORT, or DECAY_HTTP_ENABLED=false)"
            ) from None


def dead_letter_limit_checked(settings: Settings) -> Settings:
    """Settings whose dead-letter limit fits the topic's `max.message.bytes` as configured."""
    assert settings.bootstrap_servers is not None
    value = topic_config_value(
        settings.bootstrap_servers,
        settings.dead_letter_topic,
        "max.message.bytes",
        kafka_python_config(settings),
    )
    topic_max = int(value) if value and value.isdigit() else None
    budget = settings.dead_letter_budget_bytes(topic_max)
    if budget < settings.dead_letter_max_bytes:
        log.warning(
            "dead letters cut to %d bytes: topic %s has max.message.bytes=%s,"
            " DECAY_DEAD_LETTER_MAX_BYTES=%d, DECAY_PRODUCER_MAX_REQUEST_BYTES=%d",
            budget, settings.dead_letter_topic, value,
            settings.dead_letter_max_bytes, settings.producer_max_request_bytes,
        )  # fmt: skip
    return settings.model_copy(update={"dead_letter_max_bytes": budget})
