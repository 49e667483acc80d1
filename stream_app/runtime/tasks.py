"""The worker's batch tasks (events, ticks) and timers, registered on the Faust app."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any

from stream_app.kafka import outage
from stream_app.runtime.context import WorkerContext
from stream_app.runtime.outputs import SOURCE_TOPIC
from stream_app.worker.calibration_drift import version_tally
from stream_app.worker.pipeline import SourcePosition
from stream_app.worker.ticks import emit_due_ticks, rebuild_schedule

log = logging.getLogger(__name__)


async def process_events(ctx: WorkerContext) -> None:
    """Take the inbox a batch at a time: admit in order, apply, send the changelog, and
    acknowledge the batch once the broker has acknowledged its changelog.

    The broker acknowledges a batch's changelog while the next batch is applied (one batch
    waits at a time): the wait is not added to every batch. A state the next batch reads may
    not be acknowledged yet; its changelog comes later in the same partition and carries it.
    A failed acknowledgement stops the task as a failed flush did, at the latest when the
    next batch is taken.
    """
    SOURCE_TOPIC.set(ctx.settings.events_topic)
    persisting: asyncio.Task[None] | None = None
    while True:
        messages = await next_batch(ctx, persisting)
        await ctx.until_recovered()
        batch = await ctx.ordering.admit(messages)
        async with ctx.state_lock:
            await ctx.pipeline.handle_batch(batch)
            await ctx.table.send()
            acks = ctx.table.take_in_flight()
        if persisting is not None:
            await persisting
        persisting = asyncio.ensure_future(acknowledge_when_persisted(ctx, acks, messages))


async def next_batch(ctx: WorkerContext, persisting: asyncio.Task[None] | None) -> list[Any]:
    """The inbox's next batch; raises the previous batch's failed acknowledgement instead, as
    soon as it fails (an idle worker must not keep running on a changelog it lost)."""
    settings = ctx.settings
    taking = asyncio.ensure_future(
        ctx.inbox.take(settings.batch_max_events, settings.batch_window_seconds)
    )
    try:
        if persisting is not None:
            await asyncio.wait({taking, persisting}, return_when=asyncio.FIRST_COMPLETED)
            if persisting.done() and persisting.exception() is not None:
                await persisting  # raises
        return await taking
    finally:
        taking.cancel()  # no-op once it returned; the messages stay in the inbox otherwise


async def acknowledge_when_persisted(
    ctx: WorkerContext, acks: list[Awaitable[Any]], messages: list[Any]
) -> None:
    """Acknowledge a batch's messages once the broker acknowledged its changelog."""
    await ctx.table.persisted(acks)
    ctx.consumer.acknowledge(messages)


async def process_ticks(ctx: WorkerContext) -> None:
    """Take the tick inbox a batch at a time: alerts (and actions) of each tick in offset
    order, then one flush of the table for the batch, then the acknowledgements.

    A crash before the flush leaves the batch unacknowledged: its ticks are delivered again
    and repeat an alert or an action with the same id, never lose one.
    """
    handler, inbox, settings = ctx.tick_handler, ctx.tick_inbox, ctx.settings
    assert handler is not None and inbox is not None
    SOURCE_TOPIC.set(settings.ticks_topic)
    while True:
        messages = await inbox.take(settings.batch_max_events, settings.batch_window_seconds)
        await ctx.until_recovered()
        async with ctx.state_lock:
            for message in messages:
                position = SourcePosition(message.topic, message.partition, message.offset)
                await handler.handle(message.key, message.value, position)
            await ctx.table.flush()
        ctx.consumer.acknowledge(messages)


async def schedule_ticks(ctx: WorkerContext) -> None:
    """Rebuild the schedule when needed, then send a tick for every due entry."""
    assert ctx.model is not None
    if ctx.rebuild_needed and ctx.settled():
        active = ctx.assigned_partitions()
        users = rebuild_schedule(
            ctx.schedule,
            ctx.table.items(),
            ctx.settings.partitions,
            active,
            ctx.model,
            ctx.thresholds,
        )
        ctx.rebuild_needed = False
        if ctx.calibration is not None:  # the totals were summed again: a new window
            ctx.calibration.restart(version_tally(ctx.metrics.outcome_totals, ctx.model.version))
        log.info(
            "schedule rebuilt: %d users, %d due times on partitions %s",
            users,
            len(ctx.schedule),
            sorted(active),
        )
    await emit_due_ticks(ctx.schedule, ctx.clock.now_seconds(), ctx.outputs.tick)
    ctx.metrics.schedule_size.set(len(ctx.schedule))


async def reload_model(ctx: WorkerContext) -> None:
    """Load a new artifact if its file changed; the schedule is then rebuilt with it."""
    assert ctx.model is not None
    if await ctx.model.maybe_reload():
        ctx.rebuild_needed = True
        if ctx.calibration is not None:  # a new model starts from its own calibration
            ctx.calibration.shift = ctx.model.intercept_shift = 0.0
            ctx.metrics.calibration_intercept_shift.set(0.0)


async def correct_calibration(ctx: WorkerContext) -> None:
    """Move the calibration intercept towards the observed return rate of resolved alerts."""
    assert ctx.model is not None and ctx.calibration is not None
    tally = version_tally(ctx.metrics.outcome_totals, ctx.model.version)
    shift = ctx.calibration.update(tally)
    if shift is None:
        return
    ctx.model.intercept_shift = shift
    ctx.metrics.calibration_intercept_shift.set(shift)
    ctx.rebuild_needed = True  # due times follow the corrected probabilities
    log.info(
        "calibration intercept shifted by %+.3f from %d resolved alerts of model %s",
        shift,
        tally[0],
        ctx.model.version,
    )


async def refetch_dropped_offsets(ctx: WorkerContext) -> None:
    """Fetch again the partitions stuck behind an offset that was never delivered."""
    if ctx.settled():
        await ctx.ordering.refetch()


async def refresh_gauges(ctx: WorkerContext) -> None:
    """Users tracked, the consumer lag per assigned partition, and whether each progresses."""
    ctx.metrics.users_tracked.set(len(ctx.table))
    refresh_lag(ctx)
    if ctx.settled():
        observe_progress(ctx)


def assigned_positions(ctx: WorkerContext) -> list[tuple[int, int | None, int | None]]:
    """(partition, last offset processed, end offset) of each assigned events partition.

    A partition with nothing processed since the assignment counts as processed up to its
    committed offset: a worker that took over a caught-up partition has nothing waiting.
    """
    return [position(ctx, tp) for tp in ctx.assigned_events()]


def position(ctx: WorkerContext, tp: Any) -> tuple[int, int | None, int | None]:
    """(partition, last offset processed, end offset) of one events partition."""
    return tp.partition, processed_offset(ctx, tp), ctx.consumer.highwater(tp)


def processed_offset(ctx: WorkerContext, tp: Any) -> int | None:
    """The last offset of the partition processed here, or the one before its committed offset."""
    processed = ctx.pipeline.last_offsets.get(tp.partition)
    committed = ctx.consumer.committed_offset(tp)
    if committed is not None and (processed is None or processed < committed - 1):
        return int(committed) - 1
    return processed


def refresh_lag(ctx: WorkerContext) -> None:
    """The consumer lag of each assigned events partition; a revoked partition's series goes."""
    lags = {
        partition: max(highwater - processed - 1, 0)
        for partition, processed, highwater in assigned_positions(ctx)
        if highwater is not None and processed is not None
    }
    ctx.metrics.set_consumer_lag(lags)


def observe_progress(ctx: WorkerContext) -> None:
    """A partition with messages waiting and no progress makes the worker unhealthy.

    A newly stalled partition is also fetched again from its committed offset (what is fetched
    twice is recognised as a redelivery by the state; a dead letter of that range may be
    written again), and the line says how the fetch loop saw it, for the on-call.
    """
    now = time.monotonic()
    for tp in ctx.assigned_events():
        stall = ctx.progress.observe(*position(ctx, tp), now)
        if stall is None:
            continue
        ctx.metrics.partition_stalls_total.inc()
        fetch = ctx.consumer.fetch_state(tp)
        log.error("worker unhealthy: %s (fetch loop: %s)", stall.reason(now), fetch)
        committed = ctx.consumer.committed_offset(tp)
        if committed is not None:
            ctx.ordering.fetch_again(tp, committed)


def register_tasks(ctx: WorkerContext) -> None:
    """The events' batch task always; the ticks' batch task and the model's timers when a
    model serves."""
    app, settings = ctx.app, ctx.settings

    async def events_task() -> None:
        await process_events(ctx)

    app.task(events_task)

    async def connection_log_task() -> None:
        """On Faust's log handlers (set up when the worker starts): one line per outage."""
        connection_log = outage.install(settings.bootstrap_servers)
        connection_log.on_lost = ctx.metrics.kafka_connection_lost_total.inc

    app.task(connection_log_task)

    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        ctx.rebuild_needed = True
        ctx.progress.reset()
        ctx.ordering.reassigned()
        refresh_lag(ctx)  # a revoked partition's series goes now, not at the next timer

    app.on_partitions_assigned.connect(on_assigned)  # type: ignore[arg-type]
    every(ctx, max(settings.commit_interval_seconds, 1.0), refetch_dropped_offsets)
    every(ctx, 5.0, refresh_gauges)
    if ctx.model is None:
        return

    async def ticks_task() -> None:
        await process_ticks(ctx)

    app.task(ticks_task)
    every(ctx, settings.schedule_tick_seconds, schedule_ticks)
    every(ctx, settings.model_reload_seconds, reload_model)
    if ctx.calibration is not None:
        every(ctx, settings.calibration_online_interval_seconds, correct_calibration)


def every(ctx: WorkerContext, seconds: float, job: Any) -> None:
    """Run `job(ctx)` on a Faust timer."""

    async def timer() -> None:
        await job(ctx)

    ctx.app.timer(interval=seconds, name=job.__name__)(timer)
