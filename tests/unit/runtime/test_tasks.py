"""The batch task's view of each partition's position (for lag and health)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from faust.types import tuples as faust_tuples

from stream_app.runtime.context import WorkerContext
from stream_app.runtime.refetch import OffsetOrdering
from stream_app.runtime.tasks import assigned_positions, observe_progress
from stream_app.worker.metrics import Metrics
from stream_app.worker.progress import ProgressWatch

P0, P1 = faust_tuples.TP("events", 0), faust_tuples.TP("events", 1)


def context(
    processed: dict[int, int], committed: dict[Any, int], highwater: int, stall_seconds: float = 120
) -> Any:
    seeks: list[tuple[Any, int]] = []
    consumer = SimpleNamespace(
        assignment=lambda: {P0, P1, faust_tuples.TP("ticks", 0)},
        committed_offset=committed.get,
        highwater=lambda tp: highwater,
        fetch_state=lambda tp: "flow=active",
        request_seek=lambda tp, offset: seeks.append((tp, offset)),
        seeks=seeks,
    )
    metrics = Metrics()

    async def first_offset(tp: Any, offset: int) -> int | None:
        return offset

    ctx = SimpleNamespace(
        consumer=consumer,
        pipeline=SimpleNamespace(last_offsets=processed),
        settings=SimpleNamespace(events_topic="events"),
        progress=ProgressWatch(stall_seconds=stall_seconds),
        metrics=metrics,
        ordering=OffsetOrdering("events", lambda: consumer, first_offset, metrics),
    )
    ctx.assigned_events = lambda: WorkerContext.assigned_events(ctx)  # the ticks topic is left out
    return ctx


def test_a_caught_up_partition_taken_over_has_nothing_waiting() -> None:
    ctx = context(processed={}, committed={P0: 800, P1: 800}, highwater=800)
    positions = sorted(assigned_positions(ctx))
    assert positions == [(0, 799, 800), (1, 799, 800)]
    watch = ProgressWatch(stall_seconds=120.0)
    for now in (0.0, 200.0):
        assert [watch.observe(p, done, end, now) for p, done, end in positions] == [None, None]


def test_processed_offsets_beyond_the_commit_are_the_position() -> None:
    ctx = context(processed={0: 850}, committed={P0: 800}, highwater=900)
    assert sorted(assigned_positions(ctx)) == [(0, 850, 900), (1, None, 900)]


def test_a_newly_stalled_partition_is_fetched_again_from_its_committed_offset() -> None:
    ctx = context(processed={}, committed={P0: 800, P1: 900}, highwater=900, stall_seconds=0.0)
    observe_progress(ctx)
    assert ctx.consumer.seeks == [(P0, 800)]  # P1 has nothing waiting
    observe_progress(ctx)
    assert ctx.consumer.seeks == [(P0, 800)]  # once per stall, not on every check
