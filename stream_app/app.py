"""Wiring only: the Faust app, its topics, table, agents, timers and web pages.

The only module that touches Faust runtime objects. Every decision is made by the pure modules;
this file connects them to Kafka.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, cast

import faust
from faust.auth import SASLCredentials, SSLCredentials
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from stream_app.activation import Activation, per_partition_policy
from stream_app.clock import Clock, clock_from
from stream_app.events.alert import Alert
from stream_app.events.dead_letter import DeadLetter
from stream_app.events.decode import DecodeLimits
from stream_app.events.tick import Tick
from stream_app.metrics import Metrics
from stream_app.pipeline import EventPipeline, RawMessage, SourcePosition
from stream_app.policy import load_policy
from stream_app.policy.records import Action
from stream_app.schedule.due_schedule import DueEntry, DueSchedule
from stream_app.schedule.levels import Thresholds
from stream_app.serving import ServingModel
from stream_app.settings import Settings
from stream_app.ticks import TickHandler, emit_due_ticks, rebuild_schedule

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
    model: ServingModel | None

    def topic_specs(self) -> dict[str, dict[str, str]]:
        """Topics the worker reads or writes that it does not own (created before it starts)."""
        s = self.settings
        large = {"max.message.bytes": str(s.dead_letter_max_bytes)}
        return {
            s.events_topic: {},
            s.dead_letter_topic: large,
            s.alerts_topic: {},
            s.actions_topic: {},
            s.ticks_topic: {},
        }

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


def load_model(settings: Settings, metrics: Metrics) -> ServingModel | None:
    """The serving model, or None (state and counters only) when no artifact is there."""
    if not settings.model_path.exists():
        log.warning(
            "no model at %s: tracking state without decay scoring or alerts", settings.model_path
        )
        return None
    model = ServingModel(
        settings.model_path, metrics, settings.model_prefer_cuda, settings.model_threads
    )
    model.load()
    return model


def create_app(settings: Settings, clock: Clock | None = None) -> Engine:
    """Build the Faust app for `settings` (bootstrap servers must be set)."""
    if settings.bootstrap_servers is None:
        raise ValueError("bootstrap_servers is not set (the CLI starts a local broker for you)")
    clock = clock or clock_from(
        settings.clock_start_seconds, settings.clock_factor, settings.clock_anchor_seconds
    )
    metrics = Metrics()
    model = load_model(settings, metrics)
    thresholds = Thresholds(settings.alert_warning, settings.alert_at_risk, settings.alert_critical)
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
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=settings.heartbeat_interval_seconds,
        consumer_group_instance_id=settings.group_instance_id,
        consumer_auto_offset_reset="earliest",
        producer_max_request_size=settings.dead_letter_max_bytes,
        producer_acks=-1,
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=settings.http_enabled,
        web_bind=settings.http_host,
        web_port=settings.http_port,
        web_host="127.0.0.1",
    )

    def raw_topic(name: str, **config: str) -> Any:
        return app.topic(
            name,
            key_type=bytes,
            value_type=bytes,
            partitions=settings.partitions,
            config=config or None,
        )

    events_topic = raw_topic(settings.events_topic)
    ticks_topic = raw_topic(settings.ticks_topic)
    alerts_topic = raw_topic(settings.alerts_topic)
    actions_topic = raw_topic(settings.actions_topic)
    dead_letter_topic = raw_topic(
        settings.dead_letter_topic, **{"max.message.bytes": str(settings.dead_letter_max_bytes)}
    )
    # The changelog partition follows the key (murmur2), as the events' partition does: events
    # on the wrong partition are refused by the pipeline, so a batch of many partitions can
    # write the table.
    user_table = app.Table(
        USER_STATE_TABLE,
        partitions=settings.partitions,
        key_type=bytes,
        value_type=bytes,
        use_partitioner=True,
    )

    async def send_dead_letter(letter: DeadLetter) -> None:
        # Wait for the broker's ack: the source offset must not be committed before the letter is safe.
        await (
            await dead_letter_topic.send(
                key=letter.key, value=letter.value, headers=letter.headers()
            )
        )

    async def send_alert(alert: Alert) -> None:
        await (await alerts_topic.send(key=alert.user_id.encode("utf-8"), value=alert.to_json()))

    async def send_action(action: Action) -> None:
        await (await actions_topic.send(key=action.user_id.encode("utf-8"), value=action.to_json()))

    async def send_tick(entry: DueEntry, tick: Tick) -> None:
        await ticks_topic.send(key=entry.user_key, value=tick.to_json(), partition=entry.partition)

    schedule = DueSchedule()
    activation = None
    if settings.policy_path is not None and str(settings.policy_path):
        policy = per_partition_policy(load_policy(settings.policy_path), settings.partitions)
        activation = Activation(policy, send_action, metrics)
    known_categories: dict[int, str] = {}
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
        partitions=settings.partitions,
        model=model,
        schedule=schedule,
        thresholds=thresholds,
        known_categories=known_categories,
        activation=activation,
    )

    def recovery_completed() -> bool:
        return bool(cast(Any, app.tables).recovery.completed.is_set())

    async def flush_outputs() -> None:
        """Wait until every buffered write (changelog, ticks) is acknowledged by the broker.

        Called before a batch's offsets are acknowledged: Faust's own flush before a commit can
        return with changelog writes still buffered, and a crash then would lose them.
        """
        producer = cast(Any, app.producer)
        while producer.buffer.size:
            await producer.buffer.flush_atmost(producer.buffer.size)
        await producer.flush()

    # Both agents read-modify-write the same users; one at a time.
    state_lock = asyncio.Lock()
    rebuild = {"needed": True}

    @app.agent(events_topic, name="process-events")
    async def process_events(stream: faust.StreamT[bytes]) -> None:
        async for events in cast(Any, stream).take_events(
            settings.batch_max_events, within=settings.batch_window_seconds
        ):
            batch = [
                RawMessage(
                    e.message.key,
                    e.message.value,
                    SourcePosition(e.message.topic, e.message.partition, e.message.offset),
                )
                for e in events
            ]
            async with state_lock:
                await pipeline.handle_batch(batch)
                await flush_outputs()

    if model is not None:
        tick_handler = TickHandler(
            user_table,
            send_alert,
            clock,
            metrics,
            model,
            thresholds,
            known_categories,
            schedule,
            activation,
        )

        @app.agent(ticks_topic, name="process-ticks")
        async def process_ticks(stream: faust.StreamT[bytes]) -> None:
            async for event in stream.events():
                message = event.message
                async with state_lock:
                    await tick_handler.handle(
                        message.key,
                        message.value,
                        SourcePosition(message.topic, message.partition, message.offset),
                    )
                    await flush_outputs()

        @app.timer(interval=settings.schedule_tick_seconds)
        async def schedule_ticks() -> None:
            if rebuild["needed"] and recovery_completed() and not app.rebalancing:
                active = {
                    tp.partition
                    for tp in app.consumer.assignment()
                    if tp.topic == settings.events_topic
                }
                users = rebuild_schedule(
                    schedule,
                    list(user_table.items()),
                    settings.partitions,
                    active,
                    model,
                    thresholds,
                )
                rebuild["needed"] = False
                log.info(
                    "schedule rebuilt: %d users, %d due times on partitions %s",
                    users,
                    len(schedule),
                    sorted(active),
                )
            await emit_due_ticks(schedule, clock.now_seconds(), send_tick)
            metrics.schedule_size.set(len(schedule))

        @app.timer(interval=settings.model_reload_seconds)
        async def reload_model() -> None:
            if await model.maybe_reload():
                rebuild["needed"] = True

    @app.on_partitions_assigned.connect  # type: ignore[misc,arg-type]
    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        rebuild["needed"] = True

    @app.timer(interval=5.0)
    async def refresh_gauges() -> None:
        metrics.users_tracked.set(len(user_table))
        for tp in app.consumer.assignment():
            if tp.topic != settings.events_topic:
                continue
            highwater = app.consumer.highwater(tp)  # end offset: the next offset to be written
            processed = pipeline.last_offsets.get(tp.partition)
            if highwater is not None and processed is not None:
                metrics.consumer_lag_messages.labels(str(tp.partition)).set(
                    max(highwater - processed - 1, 0)
                )

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(metrics.registry), content_type=METRICS_CONTENT_TYPE)

    @app.page("/health/live")
    async def liveness_page(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/health/ready")
    async def readiness_page(web: Any, request: Any) -> Any:
        ready = recovery_completed() and not app.rebalancing
        return web.json(
            {"status": "ready" if ready else "recovering"}, status=200 if ready else 503
        )

    @app.page("/health")
    async def health_page(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    return Engine(
        app=app,
        settings=settings,
        metrics=metrics,
        user_table=user_table,
        pipeline=pipeline,
        model=model,
    )
