"""Offset ordering over a stand-in consumer: held-back events, dropped offsets, refetches."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import tuples as faust_tuples

from stream_app.runtime.refetch import (
    REFETCH_PATIENCE_CHECKS,
    REFETCHES_BEFORE_DIAGNOSIS,
    OffsetOrdering,
)
from stream_app.worker.metrics import Metrics

TopicPartition = faust_tuples.TP
P0, P1 = TopicPartition("events", 0), TopicPartition("events", 1)
TICKS = TopicPartition("ticks", 0)


@dataclass
class StandInConsumer:
    """A `ConsumerView` with the bookkeeping in plain dicts."""

    assigned: set[Any]
    committed: dict[Any, int | None] = field(default_factory=dict)
    earliest: dict[Any, int] = field(default_factory=dict)
    acked: dict[Any, list[int]] = field(default_factory=dict)
    in_flight: set[Any] = field(default_factory=set)
    dropped: dict[Any, int] = field(default_factory=dict)
    forgotten: list[int] = field(default_factory=list)
    seeks: list[tuple[Any, int]] = field(default_factory=list)
    read: dict[Any, int] = field(default_factory=dict)

    def assignment(self) -> set[Any]:
        return self.assigned

    def committed_offset(self, tp: Any) -> int | None:
        return self.committed.get(tp)

    def set_committed_offset(self, tp: Any, offset: int) -> None:
        self.committed[tp] = offset

    async def earliest_offsets(self, *partitions: Any) -> Mapping[Any, int]:
        return {tp: self.earliest.get(tp, 0) for tp in partitions}

    def acked_offsets(self, tp: Any) -> Collection[int]:
        return self.acked.get(tp, [])

    def dropped_offset(self, tp: Any) -> int | None:
        return self.dropped.get(tp)

    def partitions_in_flight(self) -> set[Any]:
        return self.in_flight

    def forget_delivery(self, message: Any) -> None:
        self.forgotten.append(message.offset)

    def request_seek(self, tp: Any, offset: int) -> None:
        self.seeks.append((tp, offset))
        self.read[tp] = offset  # as the fetch loop's seek leaves it

    def read_offset(self, tp: Any) -> int | None:
        return self.read.get(tp)

    def seek_pending(self, tp: Any) -> bool:
        return False

    def fetch_state(self, tp: Any) -> str:
        return f"stand-in, seeks={len(self.seeks)}"


def message(tp: Any, offset: int) -> Any:
    return SimpleNamespace(
        tp=tp, topic=tp.topic, partition=tp.partition, offset=offset, key=b"u", value=b"{}"
    )


def ordering(
    consumer: StandInConsumer, first: dict[int, int] | None = None
) -> tuple[OffsetOrdering, list[int]]:
    """An ordering whose broker answers `first[offset]` (default: the offset itself exists)."""
    asked: list[int] = []

    async def first_offset(tp: Any, offset: int) -> int | None:
        asked.append(offset)
        return (first or {}).get(offset, offset)

    return OffsetOrdering("events", lambda: consumer, first_offset, Metrics()), asked


def offsets(admitted: list[Any]) -> list[int]:
    return [m.source.offset for m in admitted]


def test_messages_in_order_are_admitted_from_the_committed_offset() -> None:
    consumer = StandInConsumer({P0, TICKS}, committed={P0: 10})
    order, _ = ordering(consumer)
    admitted = asyncio.run(order.admit([message(P0, 10), message(P0, 11)]))
    assert offsets(admitted) == [10, 11] and consumer.forgotten == []


def test_a_message_ahead_of_a_missing_offset_is_held_back_and_fetched_again() -> None:
    consumer = StandInConsumer({P0}, committed={P0: 10})
    order, asked = ordering(consumer)
    admitted = asyncio.run(order.admit([message(P0, 10), message(P0, 12)]))
    assert offsets(admitted) == [10] and consumer.forgotten == [12]
    asyncio.run(order.refetch())
    assert asked == [11] and consumer.seeks == [(P0, 11)]


def test_offsets_the_broker_skips_are_passed_over() -> None:
    consumer = StandInConsumer({P0}, committed={P0: 10})
    order, _ = ordering(consumer, first={10: 12})  # 10 and 11: transaction markers
    asyncio.run(order.admit([message(P0, 12)]))
    asyncio.run(order.refetch())
    assert consumer.seeks == [(P0, 12)]
    assert offsets(asyncio.run(order.admit([message(P0, 12), message(P0, 13)]))) == [12, 13]


def test_a_partition_still_moving_is_not_fetched_again_yet() -> None:
    consumer = StandInConsumer({P0}, committed={P0: 0})
    order, _ = ordering(consumer)
    asyncio.run(order.admit([message(P0, 2)]))
    asyncio.run(order.refetch())  # held behind 0: fetched again
    asyncio.run(order.admit([message(P0, 0), message(P0, 3)]))  # moved on to 1, holds 3
    asyncio.run(order.refetch())
    assert consumer.seeks == [(P0, 0)]  # moved since the last check: wait
    asyncio.run(order.refetch())
    assert consumer.seeks == [(P0, 0), (P0, 1)]


def test_a_third_fetch_again_from_the_same_offset_says_how_the_fetch_loop_sees_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    consumer = StandInConsumer({P0}, committed={P0: 10})
    order, _ = ordering(consumer)
    asyncio.run(order.admit([message(P0, 12)]))
    for _ in range(REFETCHES_BEFORE_DIAGNOSIS):
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        asyncio.run(order.refetch())
        consumer.read[P0] = 12  # the fetch loop read past 10 again without delivering it
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert consumer.seeks == [(P0, 10)] * REFETCHES_BEFORE_DIAGNOSIS
    assert errors == [
        f"partition 0: fetched again {REFETCHES_BEFORE_DIAGNOSIS} times from offset 10, which"
        f" never arrived (fetch loop: stand-in, seeks={REFETCHES_BEFORE_DIAGNOSIS - 1})"
    ]


def test_a_fetch_again_under_way_is_not_undone_by_another() -> None:
    consumer = StandInConsumer({P0}, committed={P0: 10})
    order, _ = ordering(consumer)
    asyncio.run(order.admit([message(P0, 12)]))
    asyncio.run(order.refetch())
    for _ in range(5):  # the fetch loop read nothing past 10 yet: the seek is on its way
        asyncio.run(order.refetch())
    assert consumer.seeks == [(P0, 10)]
    consumer.read[P0] = 12  # it read past 10 and 10 never came: the seek did not take
    asyncio.run(order.refetch())
    assert consumer.seeks == [(P0, 10), (P0, 10)]


def test_a_fetch_again_that_never_arrives_is_asked_again_after_the_patience() -> None:
    consumer = StandInConsumer({P0}, committed={P0: 10})
    order, _ = ordering(consumer)
    asyncio.run(order.admit([message(P0, 12)]))
    asyncio.run(order.refetch())
    for _ in range(REFETCH_PATIENCE_CHECKS - 1):
        asyncio.run(order.refetch())
    assert consumer.seeks == [(P0, 10)]
    asyncio.run(order.refetch())
    assert consumer.seeks == [(P0, 10), (P0, 10)]


def test_a_never_committed_partition_starts_at_its_earliest_offset() -> None:
    consumer = StandInConsumer({P0, P1}, committed={P0: 5}, earliest={P1: 40})
    order, _ = ordering(consumer)
    admitted = asyncio.run(order.admit([message(P1, 40), message(P1, 42)]))
    assert offsets(admitted) == [40] and consumer.committed[P1] == 40


def test_a_redelivery_below_the_cursor_is_admitted_for_the_state_to_recognise() -> None:
    consumer = StandInConsumer({P0}, committed={P0: 10})
    order, _ = ordering(consumer)
    asyncio.run(order.admit([message(P0, 10), message(P0, 11)]))
    assert offsets(asyncio.run(order.admit([message(P0, 10)]))) == [10]


def test_offsets_fetched_but_never_delivered_are_fetched_again_after_three_checks() -> None:
    consumer = StandInConsumer({P0}, committed={P0: 10}, acked={P0: [12, 13]})
    order, _ = ordering(consumer)
    for _ in range(2):
        asyncio.run(order.refetch())
    assert consumer.seeks == []
    asyncio.run(order.refetch())
    assert consumer.seeks == [(P0, 10)]


def test_a_dropped_tail_with_nothing_after_it_is_fetched_again_after_three_checks() -> None:
    consumer = StandInConsumer({P0, P1}, committed={P0: 10, P1: 7}, dropped={P0: 14, P1: 6})
    order, _ = ordering(consumer)
    for _ in range(2):
        asyncio.run(order.refetch())
    assert consumer.seeks == []
    asyncio.run(order.refetch())
    assert consumer.seeks == [(P0, 10)]  # P1's dropped offset was committed since


def test_a_partition_with_a_message_in_flight_is_left_alone() -> None:
    consumer = StandInConsumer({P0}, committed={P0: 10}, acked={P0: [12]}, in_flight={P0})
    order, _ = ordering(consumer)
    asyncio.run(order.admit([message(P0, 12)]))
    for _ in range(4):
        asyncio.run(order.refetch())
    assert consumer.seeks == []


def test_a_new_assignment_restarts_the_cursor() -> None:
    consumer = StandInConsumer({P0}, committed={P0: 10})
    order, _ = ordering(consumer)
    asyncio.run(order.admit([message(P0, 12)]))
    consumer.committed[P0] = 12
    order.reassigned()
    assert offsets(asyncio.run(order.admit([message(P0, 12)]))) == [12]
