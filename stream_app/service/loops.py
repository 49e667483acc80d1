"""The batch loops of the worker: events and ticks, each a batch at a time, under one lock.

Each loop takes a batch from its source, applies it with the per-batch service
(`EventPipeline`, `TickHandler`), acknowledges it to its source, and leaves flushing and
committing to the checkpoint (told whether more input waits: a loop that has caught up flushes
at once). A crash before a commit leaves the batch uncommitted: it is
delivered again, recognised by the state (the offset of each user's last event, of the last
tick) and repeats an alert or an action with the same id at most, never loses one.
"""

from __future__ import annotations

from stream_app.service.context import ServiceContext


async def process_events(ctx: ServiceContext) -> None:
    """Take the events a batch at a time: apply, acknowledge, flush or commit when due."""
    settings, source = ctx.settings, ctx.events
    while not ctx.stopped:
        batch = await source.take(
            settings.batch_max_events, settings.batch_window_seconds, ctx.checkpoint.idle_seconds()
        )
        async with ctx.state_lock:
            if ctx.stopped:  # taken after the last commit: delivered again to the next owner
                return
            messages = source.admit(batch)
            if messages:
                await ctx.pipeline.handle_batch(messages)
                source.acknowledge(messages)
            await ctx.checkpoint.after_batch(caught_up=not source.waiting())


async def process_ticks(ctx: ServiceContext) -> None:
    """Take the ticks a batch at a time: alerts (and actions) of each tick in offset order,
    then acknowledge; the state written is flushed and committed with the events'."""
    handler, source, settings = ctx.tick_handler, ctx.ticks, ctx.settings
    assert handler is not None and source is not None
    while not ctx.stopped:
        batch = await source.take(
            settings.batch_max_events, settings.batch_window_seconds, ctx.checkpoint.idle_seconds()
        )
        async with ctx.state_lock:
            if ctx.stopped:
                return
            messages = source.admit(batch)
            for message in messages:
                await handler.handle(message.key, message.value, message.source)
            source.acknowledge(messages)
            await ctx.checkpoint.after_batch(caught_up=not source.waiting())


async def on_revoked(ctx: ServiceContext) -> None:
    """Partitions are being taken away: finish the batch in progress and commit everything,
    so the next owner starts where this worker stopped."""
    async with ctx.state_lock:
        if not ctx.stopped:  # after the shutdown's commit there is nothing left to commit
            await ctx.checkpoint.commit()


async def on_shutdown(ctx: ServiceContext) -> None:
    """The worker is stopping (its consumer paused, its producer still running): commit what was
    applied, then stop the loops and timers, so no write is sent after the producer stopped."""
    async with ctx.state_lock:
        if not ctx.stopped:
            await ctx.checkpoint.commit()
            ctx.stopped = True
