"""`decay-stream worker`: run the stream worker until stopped."""

from __future__ import annotations

import argparse
import sys

from stream_app.commands.broker import embedded_broker
from stream_app.commands.logs import logging_config
from stream_app.kafka.clients import ensure_topic
from stream_app.kafka.partitions import PartitionCountError, check_partition_counts
from stream_app.settings import Settings
from stream_app.topology import changelog_topic


def run_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Create the topics the worker does not own, then run it in the foreground."""
    from stream_app.policy import PolicyError
    from stream_app.runtime.app import create_app

    with embedded_broker(settings) as bootstrap:
        try:
            engine = create_app(settings.model_copy(update={"bootstrap_servers": bootstrap}))
        except PolicyError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for topic, config in engine.topic_specs().items():
            ensure_topic(
                bootstrap, topic, settings.partitions, config,
                settings.kafka_python_config(), settings.replication_factor,
            )  # fmt: skip
        try:
            check_partition_counts(
                bootstrap, settings.partitions, engine.topic_specs(),
                [changelog_topic(settings.app_id)], settings.kafka_python_config(),
            )  # fmt: skip
        except PartitionCountError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        json_logs = settings.log_format == "json"
        engine.run(logging_config(settings.log_level, "json") if json_logs else None)
    return 0
