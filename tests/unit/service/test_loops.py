"""The service's events loop on the in-memory adapter: no broker, the real pipeline."""

from __future__ import annotations

import asyncio
import json

from stream_app.clock import AcceleratedClock
from stream_app.events.decode import DecodeLimits
from stream_app.events.partitioning import partition_for_key
from stream_app.schedule.due_schedule import DueSchedule
from stream_app.schedule.levels import Thresholds
from stream_app.service import loops
from stream_app.service.checkpoint import Checkpoint
from stream_app.service.context import ServiceContext
from stream_app.service.memory import MemoryCommitter, MemorySink, MemorySource, MemoryStore
from stream_app.service.ports import RawMessage, SourcePosition, end_offsets
from stream_app.settings import Settings
from stream_app.state import decode_state
from stream_app.worker.metrics import Metrics
from stream_app.worker.outputs import OutputTopics
from stream_app.worker.pipeline import EventPipeline

NOW = 1_700_000_000.0
PARTITIONS = 4


def context(source: MemorySource, store: MemoryStore, sink: MemorySink) -> ServiceContext:
    settings = Settings(partitions=PARTITIONS, batch_max_events=16, batch_window_seconds=0.001)
    metrics = Metrics()
    outputs = OutputTopics(sink, "dlq", "alerts", "actions", "ticks", "actions.control")
    clock = AcceleratedClock(NOW, 0.0)
    pipeline = EventPipeline(
        store=store,
        dead_letters=outputs.dead_letter,
        clock=clock,
        metrics=metrics,
        limits=DecodeLimits(now_seconds=0.0),
        sequence_length=10,
        partitions=PARTITIONS,
    )
    checkpoint = Checkpoint(store, [source], MemoryCommitter(), 0.0, 0.0)
    return ServiceContext(
        settings=settings, clock=clock, metrics=metrics, model=None, thresholds=Thresholds(),
        store=store, outputs=outputs, schedule=DueSchedule(), pipeline=pipeline,
        tick_handler=None, events=source, checkpoint=checkpoint, settled=lambda: True,
    )  # fmt: skip


def events(users: int, per_user: int) -> MemorySource:
    source = MemorySource("events")
    offsets = [0] * PARTITIONS
    for k in range(per_user):
        for u in range(users):
            key = f"user-{u}".encode()
            partition = partition_for_key(key, PARTITIONS)
            value = {"user_id": key.decode(), "ts": NOW - 3600 + k, "type": "view", "item_id": "i"}
            source.append(
                RawMessage(
                    key,
                    json.dumps(value).encode(),
                    SourcePosition("events", partition, offsets[partition]),
                )
            )
            offsets[partition] += 1
    return source


async def run_until_committed(ctx: ServiceContext, source: MemorySource) -> None:
    task = asyncio.ensure_future(loops.process_events(ctx))
    try:
        while not (source.drained() and not source.uncommitted() and ctx.store.dirty() == 0):
            await asyncio.sleep(0.001)
    finally:
        task.cancel()


async def test_every_event_is_applied_and_committed_once_per_partition() -> None:
    source, store, sink = events(users=20, per_user=5), MemoryStore(), MemorySink()
    await asyncio.wait_for(run_until_committed(context(source, store, sink), source), 10)
    assert {decode_state(v).events_total for v in store.values.values()} == {5}
    assert len(store.values) == 20
    ends: dict[int, int] = {}
    for m in source.messages:
        ends[m.source.partition] = m.source.offset + 1
    assert source.committed_offsets() == ends
    assert sink.sent == []


async def test_a_redelivered_batch_changes_nothing() -> None:
    source, store, sink = events(users=3, per_user=2), MemoryStore(), MemorySink()
    ctx = context(source, store, sink)
    await asyncio.wait_for(run_until_committed(ctx, source), 10)
    before = dict(store.values)
    for m in list(source.messages):  # at least once: the same messages again
        source.append(m)
    await asyncio.wait_for(run_until_committed(ctx, source), 10)
    assert store.values == before


async def test_bad_input_goes_to_the_dead_letter_topic_and_the_partition_goes_on() -> None:
    source, store, sink = events(users=1, per_user=1), MemoryStore(), MemorySink()
    partition = source.messages[0].source.partition
    source.append(RawMessage(b"user-0", b"{bad", SourcePosition("events", partition, 1)))
    good = source.messages[0]
    source.append(
        RawMessage(
            good.key, good.value.replace(b"3600", b"3000"), SourcePosition("events", partition, 2)
        )
    )  # type: ignore[union-attr]
    await asyncio.wait_for(run_until_committed(context(source, store, sink), source), 10)
    assert [value for _, value in sink.on("dlq")] == [b"{bad"]
    assert decode_state(store.values[b"user-0"]).events_total == 2
    assert source.committed_offsets() == {partition: 3}


async def test_a_shutdown_commits_what_was_applied_and_stops_the_loop() -> None:
    """The last commit is made while the producer still runs; the loop then sends nothing more,
    and what it had taken but not applied is delivered again to the next owner."""
    source, store, sink = events(users=6, per_user=4), MemoryStore(), MemorySink()
    ctx = context(source, store, sink)
    ctx.checkpoint.commit_seconds = ctx.checkpoint.flush_seconds = 3600.0  # only the shutdown's
    task = asyncio.ensure_future(loops.process_events(ctx))
    while not source.drained():
        await asyncio.sleep(0.001)
    async with ctx.state_lock:  # the batch in progress is finished first
        pass
    assert source.committed_offsets() == {}  # caught up, the loop flushed: nothing committed
    await loops.on_shutdown(ctx)
    await asyncio.wait_for(task, 5)  # the loop returns by itself
    assert store.dirty() == 0
    assert source.committed_offsets() == end_offsets(source.messages)
    flushes = store.flushes
    source.append(source.messages[0])
    await loops.on_revoked(ctx)  # the revocation that follows commits nothing more
    assert store.flushes == flushes and source.drained() is False
