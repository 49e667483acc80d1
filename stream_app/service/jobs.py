"""The worker's timed jobs: due ticks, model reload, online calibration, gauges and health.

The adapter runs each on a timer; every job speaks to the service context only.
"""

from __future__ import annotations

import logging
import time

from stream_app.service.context import ServiceContext
from stream_app.worker.calibration_drift import version_tally
from stream_app.worker.ticks import FloorRefiner, emit_due_ticks, rebuild_schedule

log = logging.getLogger(__name__)


async def schedule_ticks(ctx: ServiceContext) -> None:
    """Rebuild the schedule when needed, then send a tick for every due entry."""
    assert ctx.model is not None
    if ctx.rebuild_needed and ctx.settled():
        active = ctx.events.assigned()
        users = rebuild_schedule(
            ctx.schedule,
            ctx.store.items(),
            ctx.settings.partitions,
            active,
            ctx.model,
            ctx.thresholds,
            partitioner=ctx.settings.producer_partitioner,
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
    refine = FloorRefiner(ctx.store, ctx.model.decay, ctx.thresholds)
    await emit_due_ticks(ctx.schedule, ctx.clock.now_seconds(), ctx.outputs.tick, refine)
    ctx.metrics.schedule_size.set(len(ctx.schedule))


async def reload_model(ctx: ServiceContext) -> None:
    """Load a new artifact if its file changed; the schedule is then rebuilt with it."""
    assert ctx.model is not None
    if await ctx.model.maybe_reload():
        ctx.rebuild_needed = True
        if ctx.calibration is not None:  # a new model starts from its own calibration
            ctx.calibration.shift = ctx.model.intercept_shift = 0.0
            ctx.metrics.calibration_intercept_shift.set(0.0)


async def correct_calibration(ctx: ServiceContext) -> None:
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


async def refresh_gauges(ctx: ServiceContext) -> None:
    """Users tracked, the consumer lag per assigned partition, and whether each progresses."""
    ctx.metrics.users_tracked.set(len(ctx.store))
    refresh_lag(ctx)
    if ctx.settled():
        observe_progress(ctx)


def refresh_lag(ctx: ServiceContext) -> None:
    """The consumer lag of each assigned events partition; a revoked partition's series goes."""
    ctx.metrics.set_consumer_lag(
        {
            p.partition: max(p.end - p.processed - 1, 0)
            for p in ctx.events.positions()
            if p.end is not None and p.processed is not None
        }
    )


def observe_progress(ctx: ServiceContext) -> None:
    """A partition with messages waiting and no progress makes the worker unhealthy."""
    now = time.monotonic()
    for p in ctx.events.positions():
        stall = ctx.progress.observe(p.partition, p.processed, p.end, now)
        if stall is not None:
            ctx.metrics.partition_stalls_total.inc()
            log.error("worker unhealthy: %s", stall.reason(now))


def on_assigned(ctx: ServiceContext) -> None:
    """Partitions were assigned and their sources started: the schedule is rebuilt from the
    store and progress is watched afresh."""
    ctx.rebuild_needed = True
    ctx.progress.reset()
    refresh_lag(ctx)  # a revoked partition's series goes now, not at the next timer
