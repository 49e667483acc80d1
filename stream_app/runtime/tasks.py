"""The service's loops, timers and rebalance hooks, registered on the Faust app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from stream_app.kafka import outage
from stream_app.runtime.faust_consumer import DecayApp
from stream_app.service import jobs, loops
from stream_app.service.context import ServiceContext

Job = Callable[[ServiceContext], Awaitable[None]]


def register_tasks(app: DecayApp, ctx: ServiceContext) -> None:
    """The events loop always; the ticks loop and the model's timers when a model serves."""
    settings = ctx.settings

    async def events_task() -> None:
        await loops.process_events(ctx)

    app.task(events_task)

    async def connection_log_task() -> None:
        """On Faust's log handlers (set up when the worker starts): one line per outage."""
        connection_log = outage.install(settings.bootstrap_servers)
        connection_log.on_lost = ctx.metrics.kafka_connection_lost_total.inc

    app.task(connection_log_task)

    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        await loops.on_revoked(ctx)
        app.decay_consumer.stop_feeds()

    app.on_partitions_revoked.connect(on_revoked)  # type: ignore[arg-type]

    async def on_before_shutdown(sender: Any, **kwargs: Any) -> None:
        await loops.on_shutdown(ctx)

    app.on_before_shutdown.connect(on_before_shutdown)  # type: ignore[arg-type]
    app.on_feeds_started.append(lambda: jobs.on_assigned(ctx))
    every(app, ctx, 5.0, jobs.refresh_gauges)
    if ctx.model is None:
        return

    async def ticks_task() -> None:
        await loops.process_ticks(ctx)

    app.task(ticks_task)
    every(app, ctx, settings.schedule_tick_seconds, jobs.schedule_ticks)
    every(app, ctx, settings.model_reload_seconds, jobs.reload_model)
    if ctx.calibration is not None:
        every(app, ctx, settings.calibration_online_interval_seconds, jobs.correct_calibration)


def every(app: DecayApp, ctx: ServiceContext, seconds: float, job: Job) -> None:
    """Run `job(ctx)` on a Faust timer."""

    async def timer() -> None:
        if not ctx.stopped:
            await job(ctx)

    app.timer(interval=seconds, name=job.__name__)(timer)
