"""The bulk feed: our own positions per partition, one offset per partition per batch."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from stream_app.runtime.feed import BulkFeed
from stream_app.service.ports import PartitionPosition


def records(*offsets: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(key=b"k", value=b"v%d" % o, offset=o) for o in offsets]


def feed(maxsize: int = 100) -> BulkFeed:
    return BulkFeed("events", maxsize, end_offset=lambda partition: 50)


def offsets(messages: list) -> list[tuple[int, int]]:  # type: ignore[type-arg]
    return [(m.source.partition, m.source.offset) for m in messages]


async def test_records_of_a_partition_not_started_are_not_handed_over() -> None:
    f = feed()
    assert f.deliver(0, records(0, 1)) == 0
    f.start({0: 0})
    assert f.deliver(0, records(0, 1)) == 2


async def test_records_below_the_next_offset_are_redeliveries_and_skipped() -> None:
    f = feed()
    f.start({0: 10})
    assert f.deliver(0, records(8, 9, 10, 11)) == 2
    assert f.deliver(0, records(11, 12)) == 1
    batch = await f.take(10, 0.0, 0.01)
    assert offsets(f.admit(batch)) == [(0, 10), (0, 11), (0, 12)]


async def test_a_gap_the_broker_leaves_is_passed_over() -> None:
    f = feed()  # transaction markers and compacted offsets never arrive
    f.start({0: 0})
    f.deliver(0, records(0, 1, 5, 6))
    batch = await f.take(10, 0.0, 0.01)
    f.acknowledge(f.admit(batch))
    assert f.uncommitted() == {0: 7}


async def test_a_batch_is_acknowledged_as_one_offset_per_partition() -> None:
    f = feed()
    f.start({0: 0, 1: 100})
    f.deliver(0, records(0, 1, 2))
    f.deliver(1, records(100, 101))
    batch = await f.take(10, 0.0, 0.01)
    f.acknowledge(f.admit(batch))
    assert f.uncommitted() == {0: 3, 1: 102}
    f.committed({0: 3})
    assert f.uncommitted() == {1: 102}
    assert f.positions() == [PartitionPosition(0, 2, 50), PartitionPosition(1, 101, 50)]


async def test_a_batch_taken_before_a_revocation_is_not_applied_after_it() -> None:
    f = feed()
    f.start({0: 0})
    f.deliver(0, records(0, 1))
    batch = await f.take(10, 0.0, 0.01)
    f.stop()
    f.start({0: 0})  # assigned again (or to another worker): the batch is stale
    assert f.admit(batch) == []
    f.acknowledge(f.admit(batch))
    assert f.uncommitted() == {}


async def test_a_stop_drops_what_waits_for_the_partition() -> None:
    f = feed()
    f.start({0: 0, 1: 0})
    f.deliver(0, records(0, 1))
    f.deliver(1, records(0))
    f.stop([0])
    assert not f.started(0) and f.started(1)
    batch = await f.take(10, 0.0, 0.01)
    assert offsets(f.admit(batch)) == [(1, 0)]


async def test_take_returns_an_empty_batch_when_idle() -> None:
    f = feed()
    batch = await f.take(10, 0.0, 0.01)
    assert batch.messages == []


async def test_take_waits_for_a_batch_within_the_window() -> None:
    f = feed()
    f.start({0: 0})

    async def later() -> None:
        f.deliver(0, records(0))
        await asyncio.sleep(0)
        f.deliver(0, records(1, 2))

    asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(later()))
    batch = await f.take(3, 5.0, 5.0)
    assert offsets(batch.messages) == [(0, 0), (0, 1), (0, 2)]


async def test_a_full_feed_holds_the_fetch_loop_until_a_batch_is_taken() -> None:
    f = feed(maxsize=2)
    f.start({0: 0})
    f.deliver(0, records(0, 1))
    waiting = asyncio.ensure_future(f.wait_for_space())
    await asyncio.sleep(0)
    assert not waiting.done()
    await f.take(1, 0.0, 0.01)
    await asyncio.wait_for(waiting, 1.0)
