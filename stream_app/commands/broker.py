"""The Kafka broker a command talks to: the configured cluster, or the embedded local broker."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stream_app.kafka import outage
from stream_app.kafka.clients import KafkaConnectError
from stream_app.kafka.local import LocalKafka, metadata_ok
from stream_app.settings import Settings

log = logging.getLogger("stream_app")


@contextmanager
def embedded_broker(settings: Settings) -> Iterator[str]:
    """Bootstrap servers: the configured cluster, or a local broker (reused or started)."""
    if settings.bootstrap_servers:
        outage.install(settings.bootstrap_servers)
        yield settings.bootstrap_servers
        return
    if settings.security_protocol != "PLAINTEXT":
        raise KafkaConnectError(
            f"DECAY_SECURITY_PROTOCOL={settings.security_protocol} needs DECAY_BOOTSTRAP_SERVERS:"
            " the embedded local broker speaks PLAINTEXT only"
        )
    bootstrap = f"127.0.0.1:{settings.local_kafka_port}"
    if metadata_ok(bootstrap):
        log.info("Using the local Kafka broker already running at %s", bootstrap)
        outage.install(bootstrap)
        yield bootstrap
        return
    log.info("DECAY_BOOTSTRAP_SERVERS unset: starting a local Kafka broker at %s", bootstrap)
    broker = LocalKafka(data_dir=settings.local_kafka_dir.resolve(), port=settings.local_kafka_port)
    broker.start()
    outage.install(broker.bootstrap_servers)
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


def run_kafka_local(settings: Settings, args: argparse.Namespace) -> int:
    """Run a local broker in the foreground until Ctrl-C."""
    broker = LocalKafka(data_dir=Path(args.data_dir).resolve(), port=args.port)
    broker.start()
    print(
        f"Kafka running at {broker.bootstrap_servers} (data in {broker.data_dir}); Ctrl-C stops it"
    )
    try:
        while broker.process is not None and broker.process.poll() is None:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        broker.stop()
    return 0
