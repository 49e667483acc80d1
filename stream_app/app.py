"""Wiring only: the Faust app, its topics, tables, agents and web pages.

The only module that touches Faust runtime objects. Every decision is made by the pure modules;
this file connects them to Kafka.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import faust
from faust.auth import SASLCredentials, SSLCredentials
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from stream_app.clock import Clock, SystemClock
from stream_app.events.dead_letter import DeadLetter
from stream_app.events.decode import DecodeLimits
from stream_app.metrics import Metrics
from stream_app.pipeline import EventPipeline, SourcePosition
from stream_app.settings import Settings

log = logging.getLogger(__name__)

USER_STATE_TABLE = "user-state"
#: aiohttp takes the charset apart from the content type.
METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST.split(";", 1)[0] + "; version=0.0.4"


@dataclass
class Engine:
    """The assembled app and the handles tests and commands need."""

    app: faust.App
    settings: Settings
    metrics: Metrics
    user_table: Any
    pipeline: EventPipeline

    def topic_specs(self) -> dict[str, dict[str, str]]:
        """Topics the worker reads or writes that it does not own (created before it starts)."""
        s = self.settings
        large = {"max.message.bytes": str(s.dead_letter_max_bytes)}
        return {s.events_topic: {}, s.dead_letter_topic: large}

    @property
    def changelog_topic(self) -> str:
        """Kafka topic that backs the user-state table."""
        return f"{self.settings.app_id}-{USER_STATE_TABLE}-changelog"


def broker_credentials(settings: Settings) -> SASLCredentials | SSLCredentials | None:
    """Faust credentials for the configured security protocol."""
    context = settings.ssl_context()
    if settings.security_protocol.startswith("SASL"):
        assert settings.sasl_password is not None
        return SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password.get_secret_value(),
            mechanism=settings.sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return SSLCredentials(context)
    return None


def create_app(settings: Settings, clock: Clock | None = None) -> Engine:
    """Build the Faust app for `settings` (bootstrap servers must be set)."""
    if settings.bootstrap_servers is None:
        raise ValueError("bootstrap_servers is not set (the CLI starts a local broker for you)")
    clock = clock or SystemClock()
    metrics = Metrics()
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{server.strip()}" for server in settings.bootstrap_servers.split(",")],
        broker_credentials=broker_credentials(settings),
        store=settings.store_url,
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        processing_guarantee=settings.processing_guarantee,
        broker_commit_interval=settings.commit_interval_seconds,
        consumer_auto_offset_reset="earliest",
        producer_max_request_size=settings.dead_letter_max_bytes,
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=settings.http_enabled,
        web_bind=settings.http_host,
        web_port=settings.http_port,
        web_host="127.0.0.1",
    )
    events_topic = app.topic(
        settings.events_topic, key_type=bytes, value_type=bytes, partitions=settings.partitions
    )
    dead_letter_topic = app.topic(
        settings.dead_letter_topic,
        key_type=bytes,
        value_type=bytes,
        partitions=settings.partitions,
        config={"max.message.bytes": str(settings.dead_letter_max_bytes)},
    )
    user_table = app.Table(
        USER_STATE_TABLE,
        partitions=settings.partitions,
        key_type=bytes,
        value_type=bytes,
    )

    async def send_dead_letter(letter: DeadLetter) -> None:
        # Wait for the broker's ack: the source offset must not be committed before the letter is safe.
        pending = await dead_letter_topic.send(
            key=letter.key, value=letter.value, headers=letter.headers()
        )
        await pending

    pipeline = EventPipeline(
        store=user_table,
        dead_letters=send_dead_letter,
        clock=clock,
        metrics=metrics,
        limits=DecodeLimits(
            now_seconds=0.0,
            max_event_bytes=settings.max_event_bytes,
            max_future_skew_seconds=settings.max_future_skew_seconds,
            min_event_epoch_seconds=settings.min_event_epoch_seconds,
        ),
        sequence_length=settings.sequence_length,
    )

    @app.agent(events_topic, name="process-events")
    async def process_events(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            message = event.message
            source = SourcePosition(message.topic, message.partition, message.offset)
            await pipeline.handle(message.key, message.value, source)

    @app.timer(interval=5.0)
    async def refresh_gauges() -> None:
        metrics.users_tracked.set(len(user_table))

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(metrics.registry), content_type=METRICS_CONTENT_TYPE)

    @app.page("/health/live")
    async def liveness_page(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/health/ready")
    async def readiness_page(web: Any, request: Any) -> Any:
        ready = app.tables.recovery.completed.is_set() and not app.rebalancing
        return web.json({"status": "ready" if ready else "recovering"}, status=200 if ready else 503)

    @app.page("/health")
    async def health_page(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    return Engine(
        app=app, settings=settings, metrics=metrics, user_table=user_table, pipeline=pipeline
    )
