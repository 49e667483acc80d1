"""Wiring only: the Faust app, its topics and table, and the worker's collaborators.

Every decision is made by the pure core, `stream_app.worker` and `stream_app.service`; this
adapter implements the service's ports on Faust (`feed`, `outputs`, `assembly`), registers its
loops and timers (`tasks`) and pages (`web`); every private Faust access is in `faust_consumer`.
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass
from typing import Any

import faust
from faust.auth import SASLCredentials, SSLCredentials

from stream_app.clock import Clock, clock_from
from stream_app.kafka import outage
from stream_app.kafka.connection import ssl_context
from stream_app.runtime.assembly import feeds_of, load_model, service_context
from stream_app.runtime.faust_consumer import DecayApp, deliver_in_bulk
from stream_app.runtime.tasks import register_tasks
from stream_app.runtime.web import register_pages
from stream_app.service.context import ServiceContext
from stream_app.settings import Settings
from stream_app.topology import USER_STATE_TABLE, dead_letter_config, topic_specs
from stream_app.worker.metrics import Metrics

log = logging.getLogger(__name__)


class DecayWorker(faust.Worker):
    """Faust's worker, with one log line per broker outage on the handlers it sets up."""

    bootstrap: str | None = None

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        """After Faust's logging set-up: the connection log on its handlers."""
        super().on_setup_root_logger(logger, level)
        outage.install(self.bootstrap)


@dataclass
class Engine:
    """The assembled app and the handles commands need."""

    app: faust.App
    context: ServiceContext

    def topic_specs(self) -> dict[str, dict[str, str]]:
        """Topics the worker reads or writes that it does not own (created before it starts)."""
        return topic_specs(self.context.settings)

    def run(self, logging_config: dict[str, Any] | None = None) -> None:
        """Run the worker in the foreground until it is stopped (`logging_config`: dictConfig
        of the worker's logs; None keeps Faust's own)."""
        worker = DecayWorker(
            self.app,
            loglevel=self.context.settings.log_level.lower(),
            quiet=True,
            logging_config=logging_config,
        )
        worker.bootstrap = self.context.settings.bootstrap_servers
        # The ~150k objects of the loaded libraries, the app and the model live as long as the
        # process; frozen, the cyclic garbage collector stops walking them on every full
        # collection. The per-user objects (schedule entries, states in flight) churn batch
        # after batch: with the default thresholds the collector ran ~150 full collections and
        # took ~30 % of a busy worker's time at 120k users; collecting young objects every 50k
        # allocations instead of 700 leaves it ~1 % (bench/NOTES.md, attempts 5 and 9).
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
        worker.execute_from_commandline()


def broker_credentials(settings: Settings) -> SASLCredentials | SSLCredentials | None:
    """Faust credentials for the configured security protocol."""
    context = ssl_context(settings)
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


def faust_app(settings: Settings) -> DecayApp:
    """The Faust app: raw bytes everywhere, acks from all replicas, our consumer."""
    assert settings.bootstrap_servers is not None
    return DecayApp(
        settings.app_id,
        broker=[f"kafka://{server.strip()}" for server in settings.bootstrap_servers.split(",")],
        broker_credentials=broker_credentials(settings),
        store=settings.store_url,
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        table_standby_replicas=settings.table_standby_replicas,
        topic_allow_declare=True,
        processing_guarantee=settings.processing_guarantee,
        broker_commit_interval=settings.commit_interval_seconds,
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=settings.heartbeat_interval_seconds,
        consumer_group_instance_id=settings.group_instance_id,
        consumer_auto_offset_reset="earliest",
        producer_max_request_size=settings.producer_max_request_bytes,
        producer_acks=-1,
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=settings.http_enabled,
        web_bind=settings.http_host,
        web_port=settings.http_port,
        web_host="127.0.0.1",
    )


def create_app(
    settings: Settings, clock: Clock | None = None, schema_ids: frozenset[int] | None = None
) -> Engine:
    """Build the Faust app for `settings` (bootstrap servers must be set); `schema_ids`: the
    registry's ids of the events subject, where one is configured."""
    if settings.bootstrap_servers is None:
        raise ValueError("bootstrap_servers is not set (the CLI starts a local broker for you)")
    clock = clock or clock_from(
        settings.clock_start_seconds, settings.clock_factor, settings.clock_anchor_seconds
    )
    metrics = Metrics()
    model = load_model(settings, metrics)
    app = faust_app(settings)

    def raw_topic(name: str, config: dict[str, str] | None = None) -> Any:
        return app.topic(
            name, key_type=bytes, value_type=bytes, partitions=settings.partitions, config=config
        )

    events_topic = raw_topic(settings.events_topic)
    ticks_topic = raw_topic(settings.ticks_topic)
    raw_topic(settings.dead_letter_topic, dead_letter_config(settings))
    # The changelog partition follows the key by the producers' partitioner, as the events'
    # partition does: events on the wrong partition are refused by the pipeline, so a batch of
    # many partitions can write the table.
    faust_table = app.Table(
        USER_STATE_TABLE,
        partitions=settings.partitions,
        key_type=bytes,
        value_type=bytes,
        use_partitioner=True,
    )
    feeds = feeds_of(app, settings, model)
    context = service_context(
        app, settings, clock, metrics, model, faust_table, feeds, schema_ids
    )  # fmt: skip
    deliver_in_bulk(app, events_topic, feeds[settings.events_topic])
    if settings.ticks_topic in feeds:
        deliver_in_bulk(app, ticks_topic, feeds[settings.ticks_topic])
    register_tasks(app, context)
    register_pages(app, context)
    return Engine(app=app, context=context)
