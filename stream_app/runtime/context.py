"""The worker's collaborators as named fields of one object, shared by its tasks and pages."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from stream_app.clock import Clock
from stream_app.runtime.faust_consumer import DecayApp
from stream_app.runtime.inbox import MessageInbox
from stream_app.runtime.outputs import DurableTable, OutputTopics
from stream_app.runtime.refetch import OffsetOrdering
from stream_app.schedule.due_schedule import DueSchedule
from stream_app.schedule.levels import Thresholds
from stream_app.settings import Settings
from stream_app.worker.calibration_drift import OnlineCalibration
from stream_app.worker.metrics import Metrics
from stream_app.worker.pipeline import EventPipeline
from stream_app.worker.progress import ProgressWatch
from stream_app.worker.serving import ServingModel
from stream_app.worker.ticks import TickHandler


@dataclass
class WorkerContext:
    """Everything a task, timer or page of the worker works with, by name."""

    app: DecayApp
    settings: Settings
    clock: Clock
    metrics: Metrics
    model: ServingModel | None
    thresholds: Thresholds
    table: DurableTable
    outputs: OutputTopics
    schedule: DueSchedule
    pipeline: EventPipeline
    tick_handler: TickHandler | None
    inbox: MessageInbox[Any]
    ordering: OffsetOrdering
    #: The ticks, delivered in bulk like the events (None without a model: no ticks).
    tick_inbox: MessageInbox[Any] | None = None
    #: The online intercept correction (`DECAY_CALIBRATION_ONLINE`), None when off.
    calibration: OnlineCalibration | None = None
    #: Progress per partition of the events topic (a stalled one makes the worker unhealthy).
    progress: ProgressWatch = field(default_factory=lambda: ProgressWatch(120.0))
    #: The batch task and the tick task read-modify-write the same users: one at a time.
    state_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: The schedule must be rebuilt from the table (after an assignment or a new model).
    rebuild_needed: bool = True

    @property
    def consumer(self) -> Any:
        """Faust's consumer (a `DecayConsumer`), created by Faust on first use."""
        return self.app.consumer

    @property
    def recovery_completed(self) -> asyncio.Event:
        """Set once Faust has recovered the tables after the first assignment."""
        tables: Any = self.app.tables
        completed: asyncio.Event = tables.recovery.completed
        return completed

    def recovered(self) -> bool:
        """True once Faust has recovered the tables after the first assignment."""
        return self.recovery_completed.is_set()

    def settled(self) -> bool:
        """Recovered and not rebalancing: the assignment and the table are stable."""
        return self.recovered() and not self.app.rebalancing

    async def until_recovered(self) -> None:
        """Hold a batch until Faust has recovered the table and seeked to the committed offsets.

        Faust resumes the stream partitions before it reads the committed offsets; a batch
        acknowledged in that window is forgotten when the offsets arrive. Held here, it is
        acknowledged after the seek (and the events the seek fetches again are recognised as
        duplicates). Only the first recovery is awaited: during a later rebalance Faust waits
        for the batch in progress to be acknowledged, so the batch must not wait for it.
        """
        if not self.recovered():
            await self.recovery_completed.wait()

    def assigned_events(self) -> list[Any]:
        """Faust's topic-partitions of the events topic assigned to this worker now."""
        events = self.settings.events_topic
        return [tp for tp in self.consumer.assignment() if tp.topic == events]

    def assigned_partitions(self) -> set[int]:
        """Partitions of the events topic assigned to this worker now."""
        return {tp.partition for tp in self.assigned_events()}
