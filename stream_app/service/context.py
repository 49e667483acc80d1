"""The service's collaborators as named fields of one object, shared by its loops and timers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from stream_app.clock import Clock
from stream_app.schedule.due_schedule import DueSchedule
from stream_app.schedule.levels import Thresholds
from stream_app.service.checkpoint import Checkpoint
from stream_app.service.ports import BatchSource, StateStore
from stream_app.settings import Settings
from stream_app.worker.calibration_drift import OnlineCalibration
from stream_app.worker.metrics import Metrics
from stream_app.worker.outputs import OutputTopics
from stream_app.worker.pipeline import EventPipeline
from stream_app.worker.progress import ProgressWatch
from stream_app.worker.serving import ServingModel
from stream_app.worker.ticks import TickHandler


@dataclass
class ServiceContext:
    """Everything a loop, timer or page of the worker works with, by name."""

    settings: Settings
    clock: Clock
    metrics: Metrics
    model: ServingModel | None
    thresholds: Thresholds
    store: StateStore
    outputs: OutputTopics
    schedule: DueSchedule
    pipeline: EventPipeline
    tick_handler: TickHandler | None
    events: BatchSource
    checkpoint: Checkpoint
    #: True once the assignment is recovered and no rebalance is under way (the adapter's).
    settled: Callable[[], bool]
    #: The ticks, taken in batches like the events (None without a model: no ticks).
    ticks: BatchSource | None = None
    #: The online intercept correction (`DECAY_CALIBRATION_ONLINE`), None when off.
    calibration: OnlineCalibration | None = None
    #: Progress per partition of the events topic (a stalled one makes the worker unhealthy).
    progress: ProgressWatch = field(default_factory=lambda: ProgressWatch(120.0))
    #: The events loop and the ticks loop read-modify-write the same users: one at a time.
    state_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: The schedule must be rebuilt from the store (after an assignment or a new model).
    rebuild_needed: bool = True
    #: The worker is shutting down: the last commit is made, loops and timers do no more work.
    stopped: bool = False
