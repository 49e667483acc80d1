"""Wiring only: the Faust app, its topics, table, batch task, agent, timers and web pages.

The only module that touches Faust runtime objects. Every decision is made by the pure modules;
this file connects them to Kafka.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, cast

import faust
from faust.auth import SASLCredentials, SSLCredentials
from faust.transport.consumer import TopicPartitionGroup, TransactionManager
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from stream_app.clock import Clock, clock_from
from stream_app.events.alert import Alert
from stream_app.events.dead_letter import DeadLetter
from stream_app.events.decode import DecodeLimits
from stream_app.events.partitioning import partition_for_key
from stream_app.events.tick import Tick
from stream_app.kafka.clients import first_offset_from
from stream_app.policy import load_policy
from stream_app.policy.records import Action
from stream_app.runtime.faust_consumer import (
    acknowledge,
    deliver_in_bulk,
    forget_delivery,
    request_seek,
    seeks_between_fetches,
    strict_commit_gaps,
)
from stream_app.runtime.inbox import MessageInbox
from stream_app.runtime.ordering import GapWatch, OffsetCursor, stuck_gaps
from stream_app.schedule.due_schedule import DueEntry, DueSchedule
from stream_app.schedule.levels import Thresholds
from stream_app.settings import Settings
from stream_app.worker.activation import Activation, per_partition_policy
from stream_app.worker.metrics import Metrics
from stream_app.worker.pipeline import EventPipeline, RawMessage, SourcePosition
from stream_app.worker.serving import ServingModel
from stream_app.worker.ticks import TickHandler, emit_due_ticks, rebuild_schedule

log = logging.getLogger(__name__)

USER_STATE_TABLE = "user-state"
#: aiohttp takes the charset apart from the content type.
METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST.split(";", 1)[0] + "; version=0.0.4"


class DurableTable:
    """The user-state table, with changelog writes that are awaited, not buffered.

    Faust's own table write queues the changelog message in a buffer that its pre-commit flush
    can leave behind (a message taken off the queue but not yet handed to the Kafka client); a
    crash then loses a state change whose input offset is already committed. Here every write
    updates the local store and sends its changelog message directly; `flush()` waits for the
    broker's acknowledgements before the batch's offsets are acknowledged.
    """

    def __init__(self, table: Any, partitions: int, outputs: Outputs) -> None:
        self.table = table
        self.partitions = partitions
        self.outputs = outputs
        self._pending: list[tuple[bytes, bytes]] = []

    def get(self, key: bytes) -> bytes | None:
        """Stored value or None."""
        value = self.table.data.get(key)
        return value if value is None else bytes(value)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.table.data[key] = value
        self._pending.append((key, value))

    def __len__(self) -> int:
        return len(self.table.data)

    def items(self) -> list[tuple[bytes, bytes]]:
        """Every key and value of the local store."""
        return list(self.table.data.items())

    async def flush(self) -> None:
        """Send the changelog of every write since the last flush and wait for the acks."""
        pending, self._pending = self._pending, []
        acks = []
        for key, value in pending:
            partition = partition_for_key(key, self.partitions)
            acks.append(
                await self.outputs.send(
                    self.table.changelog_topic,
                    key,
                    value,
                    partition=partition,
                    source_partition=partition,
                )
            )
        for ack in acks:
            await ack


#: The input topic of the batch task or agent running in this asyncio task (each is its own).
SOURCE_TOPIC: ContextVar[str | None] = ContextVar("SOURCE_TOPIC", default=None)


class Outputs:
    """Sends an output message; the caller awaits the broker's acknowledgement it returns.

    Messages go to Faust's producer directly, not through `Topic.send`: its per-message
    bookkeeping (a future message, its callbacks, the monitor's sensors) made the worker ~1.5x
    slower (bench/NOTES.md), and it could attach a send to the current event's commit, which
    awaiting here would deadlock on.
    At least once: a plain send. Exactly once: a message caused by an input partition joins
    that partition's transaction, which Faust commits together with the partition's offsets
    (Faust itself would pick the transaction from the output topic, which it does not consume);
    a message without a source partition (a tick from the schedule timer) is sent outside any
    transaction, so that it is readable at once.
    """

    def __init__(self, app: faust.App, exactly_once: bool) -> None:
        self.app = app
        self.exactly_once = exactly_once

    async def send(
        self,
        topic: Any,
        key: bytes | None,
        value: bytes | None,
        *,
        partition: int | None,
        source_partition: int | None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> Awaitable[Any]:
        """Send; returns the acknowledgement to await."""
        app = cast(Any, self.app)
        source_topic = SOURCE_TOPIC.get()
        transactional_id = None
        if self.exactly_once and source_topic is not None and source_partition is not None:
            group = TopicPartitionGroup(
                source_topic, source_partition, app.assignor.group_for_topic(source_topic)
            )
            transactional_id = TransactionManager.transactional_id_format.format(
                group_id=app.conf.id, tpg=group
            )
        sent: Awaitable[Any] = await app.producer.send(
            topic.get_topic_name(),
            key,
            value,
            partition,
            None,
            headers,
            transactional_id=transactional_id,
        )
        return sent


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
    strict_commit_gaps()
    seeks_between_fetches()
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
    faust_table = app.Table(
        USER_STATE_TABLE,
        partitions=settings.partitions,
        key_type=bytes,
        value_type=bytes,
        use_partitioner=True,
    )
    outputs = Outputs(app, settings.processing_guarantee == "exactly_once")
    user_table = DurableTable(faust_table, settings.partitions, outputs)

    # Each output is acknowledged before the offset of the input that caused it.
    async def send_dead_letter(letter: DeadLetter) -> None:
        await (
            await outputs.send(
                dead_letter_topic,
                letter.key,
                letter.value,
                partition=None,
                source_partition=letter.source_partition,
                headers=letter.headers(),
            )
        )

    async def send_for_user(topic: Any, user_id: str, value: bytes) -> None:
        """Keyed by the user; in the transaction of the user's input partition."""
        key = user_id.encode("utf-8")
        source = partition_for_key(key, settings.partitions)
        await (await outputs.send(topic, key, value, partition=None, source_partition=source))

    async def send_alert(alert: Alert) -> None:
        await send_for_user(alerts_topic, alert.user_id, alert.to_json())

    async def send_action(action: Action) -> None:
        await send_for_user(actions_topic, action.user_id, action.to_json())

    async def send_tick(entry: DueEntry, tick: Tick) -> None:
        # Not awaited: a tick lost in a crash is sent again by the rebuilt schedule.
        await outputs.send(
            ticks_topic,
            entry.user_key,
            tick.to_json(),
            partition=entry.partition,
            source_partition=None,
        )

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

    async def until_recovered() -> None:
        """Hold a batch until Faust has recovered the table and seeked to the committed offsets.

        Faust resumes the stream partitions before it reads the committed offsets; a batch
        acknowledged in that window is forgotten when the offsets arrive. Held here, it is
        acknowledged after the seek (and the events the seek fetches again are recognised as
        duplicates). Only the first recovery is awaited: during a later rebalance Faust waits
        for the batch in progress to be acknowledged, so the batch must not wait for it.
        """
        if not recovery_completed():
            await cast(Any, app.tables).recovery.completed.wait()

    async def flush_outputs() -> None:
        """Wait until every state change of the batch is acknowledged by the broker."""
        await user_table.flush()

    # The batch task and the tick agent read-modify-write the same users; one at a time.
    state_lock = asyncio.Lock()
    rebuild = {"needed": True}

    cursor = OffsetCursor()
    cursor_assignment = {"stale": True}

    async def admit_in_order(messages: list[Any]) -> list[RawMessage]:
        """The batch's messages, without those that arrived ahead of a missing offset.

        A message held back is marked as never delivered: Faust will not acknowledge it, so
        its partition cannot be committed past it, and the offset-gap watch fetches it again.
        """
        consumer = cast(Any, app.consumer)
        if cursor_assignment["stale"]:
            tps = [tp for tp in consumer.assignment() if tp.topic == settings.events_topic]
            committed = {tp: consumer._committed_offset.get(tp) for tp in tps}
            never_committed = [tp for tp, offset in committed.items() if offset is None]
            if never_committed:
                # The consumer starts those at their beginning (auto_offset_reset=earliest):
                # that is where they are committed from, so nothing before the first message
                # delivered can be skipped.
                earliest = await consumer.earliest_offsets(*never_committed)
                for tp in never_committed:
                    committed[tp] = earliest[tp]
                    consumer._committed_offset[tp] = earliest[tp]
            cursor.restart({tp.partition: offset for tp, offset in committed.items()})
            cursor_assignment["stale"] = False
        admitted = []
        for message in messages:
            floor = consumer._committed_offset.get(message.tp)
            if cursor.admit(message.partition, message.offset, floor):
                admitted.append(
                    RawMessage(
                        message.key,
                        message.value,
                        SourcePosition(message.topic, message.partition, message.offset),
                    )
                )
            else:
                forget_delivery(consumer, message)
        if len(admitted) < len(messages):
            held = len(messages) - len(admitted)
            metrics.events_held_back_total.inc(held)
            log.warning(
                "%d events arrived ahead of a missing offset; they will be fetched again", held
            )
        return admitted

    # Events skip Faust's per-message stream path: the fetch loop puts them in an inbox that
    # one task takes a batch at a time (stream_app.runtime.faust_consumer.deliver_in_bulk).
    events_inbox: MessageInbox[Any] = MessageInbox(maxsize=4 * settings.batch_max_events)
    deliver_in_bulk(app, events_topic, events_inbox)

    @app.task
    async def process_events() -> None:
        SOURCE_TOPIC.set(settings.events_topic)
        consumer = cast(Any, app.consumer)
        while True:
            messages = await events_inbox.take(
                settings.batch_max_events, settings.batch_window_seconds
            )
            await until_recovered()
            batch = await admit_in_order(messages)
            async with state_lock:
                await pipeline.handle_batch(batch)
                await flush_outputs()
            acknowledge(consumer, messages)

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
            SOURCE_TOPIC.set(settings.ticks_topic)
            async for event in stream.events():
                message = event.message
                await until_recovered()
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
        cursor_assignment["stale"] = True

    gap_watch: GapWatch[Any] = GapWatch(patience=3)
    held_behind: dict[Any, int] = {}  # partition → expected offset at the last check

    @app.timer(interval=max(settings.commit_interval_seconds, 1.0))
    async def refetch_dropped_offsets() -> None:
        # Reads Faust's consumer bookkeeping: see stream_app.runtime.ordering for why.
        if app.rebalancing or not recovery_completed():
            return
        consumer = cast(Any, app.consumer)
        events_tps = {tp for tp in consumer.assignment() if tp.topic == settings.events_topic}
        in_flight = {message.tp for message in consumer._unacked_messages}
        refetch: dict[Any, int] = {}
        for gap in gap_watch.confirmed(
            stuck_gaps(
                {tp: consumer._acked.get(tp, ()) for tp in events_tps},
                {tp: consumer._committed_offset.get(tp) for tp in events_tps},
                in_flight,
            )
        ):
            log.warning(
                "partition %d: offsets %d..%d were fetched but never delivered; fetching again",
                gap.tp.partition,
                gap.first,
                gap.end - 1,
            )
            refetch[gap.tp] = gap.first
        for tp in events_tps - in_flight:
            held, expected = cursor.held_back(tp.partition), cursor.expected(tp.partition)
            if held is None or expected is None:
                held_behind.pop(tp, None)
                continue
            if held_behind.get(tp, expected) != expected:
                held_behind[tp] = expected  # still moving: the events may arrive by themselves
                continue
            first = await asyncio.to_thread(
                first_offset_from,
                cast(str, settings.bootstrap_servers),
                tp.topic,
                tp.partition,
                expected,
                read_committed=settings.processing_guarantee == "exactly_once",
                client_config=settings.kafka_python_config(),
            )
            if first is not None and first > expected:
                log.info(
                    "partition %d: offsets %d..%d do not exist (transaction markers or compaction)",
                    tp.partition,
                    expected,
                    first - 1,
                )
                cursor.skip_to(tp.partition, first)
                expected = first
            held_behind[tp] = expected
            log.warning(
                "partition %d: events up to offset %d held back behind offset %d; "
                "fetching again from there",
                tp.partition,
                held,
                expected,
            )
            refetch[tp] = min(refetch.get(tp, expected), expected)
        for tp, offset in refetch.items():
            metrics.partition_refetches_total.inc()
            request_seek(consumer, tp, offset)

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
