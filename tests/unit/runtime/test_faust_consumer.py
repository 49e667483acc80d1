"""This app's Faust consumer: the version guard, records to the feeds, feeds started at the
committed (or first) offsets after a recovery.

The consumer's methods run over a stand-in with the attributes Faust's consumer has.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import faust
import pytest
from faust.types import TP

from stream_app.runtime import faust_consumer
from stream_app.runtime.faust_consumer import DecayConsumer, FaustMismatchError, check_faust
from stream_app.runtime.feed import BulkFeed

EVENTS0, EVENTS1, CHANGELOG0 = TP("events", 0), TP("events", 1), TP("app-changelog", 0)


def test_the_installed_faust_is_the_one_the_consumer_was_written_against() -> None:
    check_faust()


def test_a_changed_faust_method_is_refused_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    changed = {**faust_consumer.CHECKED_METHODS, "getmany": "0" * 16}
    monkeypatch.setattr(faust_consumer, "CHECKED_METHODS", changed)
    with pytest.raises(FaustMismatchError, match=r"Consumer\.getmany changed"):
        check_faust()


def test_another_faust_version_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faust, "__version__", "0.16.0")
    with pytest.raises(FaustMismatchError, match=r"0\.16\.0 is not supported"):
        check_faust()


def record(offset: int) -> SimpleNamespace:
    return SimpleNamespace(key=b"k", value=b"v", offset=offset)


def stand_in(records: dict[Any, list[Any]], feed: BulkFeed, **kw: Any) -> Any:
    seeks: list[dict[Any, int]] = []

    async def wait_next_records(timeout: float) -> tuple[dict[Any, list[Any]], None]:
        return records, None

    async def start_feeds() -> None:
        return None

    async def earliest_offsets(*tps: Any) -> dict[Any, int]:
        return {tp: 3 for tp in tps}

    async def seek_wait(positions: dict[Any, int]) -> None:
        seeks.append(dict(positions))

    consumer = SimpleNamespace(
        app=SimpleNamespace(consumer_generation_id=1, on_feeds_started=[], monitor=SimpleNamespace(
            stream_inbound_time={}, track_tp_end_offset=lambda tp, hw: None)),
        feeds={"events": feed},
        should_stop=False,
        flow_active=True,
        _buffered_partitions=set(),
        _wait_next_records=wait_next_records,
        _start_feeds=start_feeds,
        _to_message=lambda tp, r: ("message", tp, r.offset),
        highwater=lambda tp: 10,
        assignment=lambda: {EVENTS0, EVENTS1, CHANGELOG0},
        earliest_offsets=earliest_offsets,
        seek_wait=seek_wait,
        seeks=seeks,
        feeds_to_start=None,
        _committed_offset={},
    )  # fmt: skip
    consumer.__dict__.update(kw)
    return consumer


async def test_bulk_records_go_to_their_feed_and_changelog_records_to_faust() -> None:
    feed = BulkFeed("events", 100, lambda p: None)
    feed.start({0: 0})
    consumer = stand_in({EVENTS0: [record(0), record(1)], CHANGELOG0: [record(7)]}, feed)
    yielded = [item async for item in DecayConsumer.getmany(consumer, 1.0)]
    assert yielded == [(CHANGELOG0, ("message", CHANGELOG0, 7))]  # Faust's recovery reads it
    assert feed.waiting() == 2
    assert EVENTS0 in consumer.app.monitor.stream_inbound_time


async def test_records_fetched_in_an_older_generation_never_reach_a_feed() -> None:
    feed = BulkFeed("events", 100, lambda p: None)
    feed.start({0: 0})
    consumer = stand_in({EVENTS0: [record(0)]}, feed)

    async def rebalanced(timeout: float) -> tuple[dict[Any, list[Any]], None]:
        consumer.app.consumer_generation_id = 2  # a rebalance while the fetch ran
        return {EVENTS0: [record(0)]}, None

    consumer._wait_next_records = rebalanced
    assert [item async for item in DecayConsumer.getmany(consumer, 1.0)] == []
    assert feed.waiting() == 0


async def test_feeds_start_at_the_committed_offset_or_the_first_one() -> None:
    feed = BulkFeed("events", 100, lambda p: None)
    consumer = stand_in({}, feed, feeds_to_start=1, _committed_offset={EVENTS0: 40})
    ready: list[bool] = []
    consumer.app.on_feeds_started.append(lambda: ready.append(True))
    await DecayConsumer._start_feeds(consumer)
    assert ready == [True]  # the service rebuilds its schedule for the partitions now
    assert consumer.seeks == [{EVENTS0: 40, EVENTS1: 3}]  # never committed: its first offset
    assert feed.assigned() == {0, 1}
    assert feed.deliver(0, [record(39), record(40)]) == 1
    assert consumer.feeds_to_start is None


async def test_feeds_of_a_superseded_recovery_are_not_started() -> None:
    feed = BulkFeed("events", 100, lambda p: None)
    consumer = stand_in({}, feed, feeds_to_start=0)  # the generation moved on since
    await DecayConsumer._start_feeds(consumer)
    assert consumer.seeks == [] and feed.assigned() == set()


async def test_offsets_are_committed_as_aiokafka_partitions() -> None:
    from aiokafka.structs import TopicPartition

    seen: list[dict[Any, int]] = []

    async def commit_offsets(offsets: dict[Any, int]) -> bool:
        seen.append(offsets)
        return True

    consumer = stand_in({}, BulkFeed("events", 1, lambda p: None), _commit_offsets=commit_offsets)
    assert await DecayConsumer.commit_offsets(consumer, {"events": {0: 5}, "ticks": {1: 2}})
    ((offsets,),) = [seen]
    assert offsets == {TopicPartition("events", 0): 5, TopicPartition("ticks", 1): 2}
    assert all(type(tp) is TopicPartition for tp in offsets)  # exactly-once refuses others
