"""The worker's collaborators built from the settings and connected to each other, with the
Faust adapter's implementations of the service's ports (the app is passed in)."""

from __future__ import annotations

import logging
from typing import Any

from stream_app.clock import Clock
from stream_app.events.decode import DecodeLimits
from stream_app.policy import load_policy
from stream_app.runtime.faust_consumer import DecayApp
from stream_app.runtime.feed import BulkFeed
from stream_app.runtime.outputs import ChangelogStore, ProducerSink, too_large
from stream_app.schedule.due_schedule import DueSchedule
from stream_app.schedule.levels import Thresholds
from stream_app.service.checkpoint import Checkpoint
from stream_app.service.context import ServiceContext
from stream_app.settings import Settings
from stream_app.worker.activation import Activation, per_partition_policy
from stream_app.worker.calibration_drift import OnlineCalibration
from stream_app.worker.metrics import Metrics
from stream_app.worker.outputs import OutputTopics
from stream_app.worker.pipeline import EventPipeline
from stream_app.worker.progress import ProgressWatch
from stream_app.worker.serving import ServingModel
from stream_app.worker.ticks import TickHandler

log = logging.getLogger(__name__)


def load_model(settings: Settings, metrics: Metrics) -> ServingModel | None:
    """The serving model, or None (state and counters only) when alerts are switched off.

    A missing or broken model file refuses to start (ModelFileError): a worker without a model
    sends no alert at all, which must be asked for (`DECAY_ALERTS_ENABLED=false`).
    """
    if not settings.alerts_enabled:
        log.warning("DECAY_ALERTS_ENABLED=false: tracking state without decay scoring or alerts")
        return None
    model = ServingModel(
        settings.model_path, metrics, settings.model_prefer_cuda, settings.model_threads
    )
    model.load()
    return model


def thresholds_of(settings: Settings) -> Thresholds:
    """When each alert level fires (relative to the user), from the settings."""
    gaps = settings.alert_min_silence_gaps
    return Thresholds(
        settings.alert_warning,
        settings.alert_at_risk,
        settings.alert_critical,
        min_silence_gaps=(gaps, 1.5 * gaps, 2.0 * gaps),
        prior_gap_days=settings.alert_prior_gap_days,
        outcome_grace_seconds=settings.outcome_grace_seconds,
    )


def decode_limits(settings: Settings, schema_ids: frozenset[int] | None = None) -> DecodeLimits:
    """What the decoder refuses, from the settings (`now` is set per batch).

    With a schema registry configured its wire format is accepted, with one of `schema_ids`
    (any id when none is known); without, refused.
    """
    return DecodeLimits(
        now_seconds=0.0,
        max_event_bytes=settings.max_event_bytes,
        max_future_skew_seconds=settings.max_future_skew_seconds,
        min_event_epoch_seconds=settings.min_event_epoch_seconds,
        schema_ids=(schema_ids or frozenset()) if settings.schema_registry_url else None,
    )


def activation_for(settings: Settings, topics: OutputTopics, metrics: Metrics) -> Activation | None:
    """The activation policy in the worker, or None when no policy file is configured."""
    if settings.policy_path is None or not str(settings.policy_path):
        return None
    policy = per_partition_policy(load_policy(settings.policy_path), settings.partitions)
    return Activation(policy, topics.action, metrics)


def online_calibration(
    settings: Settings, model: ServingModel | None, clock: Clock
) -> OnlineCalibration | None:
    """The online intercept correction when it is asked for and a model serves."""
    if not settings.calibration_online or model is None:
        return None
    return OnlineCalibration(
        settings.calibration_online_max_shift,
        settings.calibration_online_min_outcomes,
        horizon_seconds=model.decay.horizon_days * 86_400.0,
        clock=clock.now_seconds,
    )


class FaustCommitter:
    """The `Committer` port on Faust's consumer."""

    def __init__(self, app: DecayApp) -> None:
        self.app = app

    async def commit(self, offsets: dict[str, dict[int, int]]) -> bool:
        """Commit topic → partition → next offset."""
        return await self.app.decay_consumer.commit_offsets(offsets)


def feeds_of(app: DecayApp, settings: Settings, model: ServingModel | None) -> dict[str, BulkFeed]:
    """The batch sources fed by the app's consumer: the events, and the ticks with a model."""
    topics = [settings.events_topic] + ([] if model is None else [settings.ticks_topic])
    return {topic: feed_of(app, topic, 4 * settings.batch_max_events) for topic in topics}


def feed_of(app: DecayApp, topic: str, maxsize: int) -> BulkFeed:
    """The batch source of one topic, fed by the app's consumer."""

    def end_offset(partition: int) -> int | None:
        return app.decay_consumer.end_offset(topic, partition)

    return BulkFeed(topic, maxsize, end_offset)


def service_context(
    app: DecayApp,
    settings: Settings,
    clock: Clock,
    metrics: Metrics,
    model: ServingModel | None,
    faust_table: Any,
    feeds: dict[str, BulkFeed],
    schema_ids: frozenset[int] | None = None,
) -> ServiceContext:
    """The collaborators of the worker, connected to each other and to `app`."""
    sink = ProducerSink(app, settings.processing_guarantee == "exactly_once")
    store = ChangelogStore(
        faust_table,
        settings.partitions,
        sink,
        settings.events_topic,
        settings.producer_partitioner,
    )
    topics = OutputTopics(
        sink,
        dead_letter_topic=settings.dead_letter_topic,
        alerts_topic=settings.alerts_topic,
        actions_topic=settings.actions_topic,
        control_actions_topic=settings.control_actions_topic,
        ticks_topic=settings.ticks_topic,
        dead_letter_max_bytes=settings.dead_letter_budget_bytes(),
        app_id=settings.app_id,
        too_large=too_large,
    )
    events = feeds[settings.events_topic]
    ticks = feeds.get(settings.ticks_topic)
    checkpoint = Checkpoint(
        store,
        [events] if ticks is None else [events, ticks],
        FaustCommitter(app),
        flush_seconds=settings.state_flush_seconds,
        commit_seconds=settings.commit_interval_seconds,
    )
    thresholds = thresholds_of(settings)
    schedule = DueSchedule()
    activation = activation_for(settings, topics, metrics)
    known_categories: dict[int, str] = {}
    pipeline = EventPipeline(
        store=store,
        dead_letters=topics.dead_letter,
        clock=clock,
        metrics=metrics,
        limits=decode_limits(settings, schema_ids),
        sequence_length=settings.sequence_length,
        partitions=settings.partitions,
        partitioner=settings.producer_partitioner,
        model=model,
        schedule=schedule,
        thresholds=thresholds,
        known_categories=known_categories,
        activation=activation,
        states_written=checkpoint.flush_if_due,
    )
    tick_handler = None
    if model is not None:
        tick_handler = TickHandler(
            store, topics.alert, clock, metrics, model, thresholds, known_categories, schedule,
            activation,
        )  # fmt: skip

    def settled() -> bool:
        tables: Any = app.tables
        recovered = bool(tables.recovery.completed.is_set())
        return recovered and not app.rebalancing and app.decay_consumer.feeds_ready()

    return ServiceContext(
        settings=settings,
        clock=clock,
        metrics=metrics,
        model=model,
        thresholds=thresholds,
        store=store,
        outputs=topics,
        schedule=schedule,
        pipeline=pipeline,
        tick_handler=tick_handler,
        events=events,
        checkpoint=checkpoint,
        settled=settled,
        ticks=ticks,
        calibration=online_calibration(settings, model, clock),
        progress=ProgressWatch(settings.stall_seconds),
    )
