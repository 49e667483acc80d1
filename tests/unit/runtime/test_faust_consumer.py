"""Faust never commits past an offset that was not acknowledged; seeks take effect; bulk delivery.

The consumer's functions run Faust's real fetch loop and commit bookkeeping over stand-ins.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from faust.types import tuples as faust_tuples
from intervaltree import IntervalTree

from stream_app.runtime import faust_consumer
from stream_app.runtime.faust_consumer import (
    FaustMismatchError,
    check_faust,
    deliver_in_bulk,
    fetch_between_seeks,
    request_seek,
    seek_uncommitted_to_beginning,
    strict_new_offset,
)
from stream_app.runtime.inbox import MessageInbox

TP = "events-0"


def consumer(committed: int | None, acked: list[int], gap: IntervalTree | None = None) -> Any:
    return SimpleNamespace(
        _acked=defaultdict(list, {TP: list(acked)}),
        _acked_index=defaultdict(set, {TP: set(acked)}),
        _committed_offset=defaultdict(lambda: None, {TP: committed}),
        _gap=defaultdict(IntervalTree, {TP: gap or IntervalTree()}),
    )


def test_contiguous_acks_commit_past_the_last_one() -> None:
    assert strict_new_offset(consumer(10, [10, 11, 12]), TP) == 13


def test_a_single_missing_offset_holds_the_commit_back() -> None:
    c = consumer(10, [11, 12])  # offset 10 was never acknowledged
    assert strict_new_offset(c, TP) is None
    assert c._acked[TP] == [11, 12]  # still waiting to be committed


def test_offsets_known_not_to_exist_do_not_hold_the_commit_back() -> None:
    gap = IntervalTree()
    gap.addi(10, 11)  # e.g. a transaction marker
    assert strict_new_offset(consumer(10, [11, 12], gap), TP) == 13


def test_an_offset_acknowledged_twice_is_committed_past_as_one() -> None:
    c = consumer(10, [10, 11, 11, 12, 13, 12])  # 11, 12: in Faust's gap record, then delivered
    assert strict_new_offset(c, TP) == 14
    assert c._acked[TP] == []


def test_the_installed_faust_is_the_one_the_consumer_was_written_against() -> None:
    check_faust()


def test_a_changed_faust_method_is_refused_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    changed = {**faust_consumer.REPLACED_METHODS, "getmany": "0" * 16}
    monkeypatch.setattr(faust_consumer, "REPLACED_METHODS", changed)
    with pytest.raises(FaustMismatchError, match=r"Consumer\.getmany changed"):
        check_faust()


def test_another_faust_version_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faust, "__version__", "0.16.0")
    with pytest.raises(FaustMismatchError, match=r"0\.16\.0 is not supported"):
        check_faust()


TopicPartition = faust_tuples.TP
P0, P1 = TopicPartition("events", 0), TopicPartition("events", 1)
GONE, FAIL = TopicPartition("events", 8), TopicPartition("events", 9)


class FetchLoopConsumer:
    """The parts of a Faust consumer that `Consumer.getmany` uses, with a scripted fetch.

    `fetches` are the batches the broker returns, one per fetch: (partition, offset) pairs.
    A seek requested while a batch is delivered is recorded in `seeks`.
    """

    def __init__(
        self, fetches: list[list[tuple[TopicPartition, int]]], assigned: set[TopicPartition]
    ) -> None:
        self.fetches = fetches
        self.assigned = assigned
        self.seeks: list[dict[TopicPartition, int]] = []
        self.timeouts: list[float] = []
        self.requested_seeks: dict[TopicPartition, int] = {}
        self.seek_epoch = 0
        self.app = SimpleNamespace(
            bulk_inboxes={},
            consumer_generation_id=1,
            monitor=SimpleNamespace(track_tp_end_offset=lambda tp, offset: None),
        )
        self.should_stop = False
        self.flow_active = True
        self._buffered_partitions: set[TopicPartition] = set()
        self.scheduler = SimpleNamespace(
            iterate=iter  # the batch in the order given
        )

    async def _wait_next_records(
        self, timeout: float
    ) -> tuple[list[tuple[TopicPartition, int]], None]:
        self.timeouts.append(timeout)
        return (self.fetches.pop(0) if self.fetches else []), None

    def _to_message(self, tp: TopicPartition, offset: int) -> tuple[TopicPartition, int]:
        return (tp, offset)

    def highwater(self, tp: TopicPartition) -> int:
        return 0

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    async def seek_wait(self, seeks: dict[TopicPartition, int]) -> None:
        if FAIL in seeks:
            raise RuntimeError("partition not assigned")
        self.seeks.append(dict(seeks))


def deliver(
    consumer: FetchLoopConsumer, seek_at: dict[int, tuple[TopicPartition, int]]
) -> list[object]:
    """Run one fetch of the loop; before delivering item i, request `seek_at[i]` if given."""

    async def run() -> list[object]:
        delivered: list[object] = []
        async for _tp, message in fetch_between_seeks(consumer, 1.0):
            delivered.append(message)
            if len(delivered) in seek_at:
                request_seek(consumer, *seek_at[len(delivered)])
        return delivered

    return asyncio.run(run())


def test_a_seek_requested_mid_batch_drops_the_rest_of_that_partitions_batch() -> None:
    batch = [(P0, 10), (P1, 50), (P0, 11), (P1, 51), (P0, 12)]
    c = FetchLoopConsumer([batch], assigned={P0, P1})
    delivered = deliver(c, seek_at={2: (P0, 7)})  # asked while (p1, 50) is being delivered
    assert c.seeks == [{P0: 7}]
    assert delivered == [(P0, 10), (P1, 50), (P1, 51)]  # p0's 11, 12 come again from 7


def test_a_seek_to_the_committed_offsets_mid_batch_drops_the_rest_of_the_batch() -> None:
    c = FetchLoopConsumer([[(P0, 10), (P1, 50), (P0, 11)], [(P0, 7)]], assigned={P0, P1})

    async def run() -> list[object]:
        delivered: list[object] = []
        async for _tp, message in fetch_between_seeks(c, 1.0):
            delivered.append(message)
            c.seek_epoch += 1  # recovery sought every partition while (p0, 10) was delivered
        return delivered

    assert asyncio.run(run()) == [(P0, 10)]
    assert deliver(c, seek_at={}) == [(P0, 7)]  # the next fetch is from the new positions


def test_a_seek_requested_between_fetches_runs_before_the_next_fetch() -> None:
    c = FetchLoopConsumer([[(P0, 7), (P0, 8)]], assigned={P0})
    request_seek(c, P0, 9)
    request_seek(c, P0, 7)  # the lowest offset asked for wins
    request_seek(c, GONE, 3)  # no longer assigned: nothing to seek
    assert deliver(c, seek_at={}) == [(P0, 7), (P0, 8)]
    assert c.seeks == [{P0: 7}]
    assert deliver(c, seek_at={}) == [] and c.seeks == [{P0: 7}]  # asked for once, done once


def test_a_failed_seek_leaves_the_fetch_loop_running() -> None:
    c = FetchLoopConsumer([[(P0, 1)]], assigned={P0, FAIL})
    request_seek(c, FAIL, 0)
    assert deliver(c, seek_at={}) == [(P0, 1)]


def test_an_idle_fetch_loop_looks_for_requested_seeks_often() -> None:
    c = FetchLoopConsumer([], assigned={P0})
    deliver(c, seek_at={})
    assert c.timeouts and max(c.timeouts) <= 0.2


class BulkFetchLoopConsumer(FetchLoopConsumer):
    """Adds what the fetch loop's bookkeeping uses: read offsets, gaps, tracking, flow."""

    def __init__(
        self, fetches: list[list[tuple[TopicPartition, int]]], assigned: set[TopicPartition]
    ) -> None:
        super().__init__(fetches, assigned)
        self._read_offset: defaultdict[TopicPartition, int | None] = defaultdict(lambda: None)
        self._commit_every = None
        self._n_acked = 0
        self.tracked: list[tuple[TopicPartition, int]] = []
        self.gaps: list[tuple[TopicPartition, int, int]] = []
        self.suspend_flow = asyncio.Event()
        self.dropped_offsets: dict[TopicPartition, int] = {}
        self.app.topics = SimpleNamespace(add=lambda topic: None, acks_enabled_for=lambda t: True)
        self.app.flow_control = SimpleNamespace(acquire=_no_wait, manage_queue=lambda q: None)

    def _to_message(self, tp: TopicPartition, offset: int) -> Any:
        return SimpleNamespace(tp=tp, topic=tp.topic, offset=offset)

    def track_message(self, message: Any) -> None:
        self.tracked.append((message.tp, message.offset))

    async def _add_gap(self, tp: TopicPartition, first: int, last: int) -> None:
        self.gaps.append((tp, first, last))


async def _no_wait() -> None:
    return None


def test_messages_of_a_bulk_topic_go_to_its_inbox_tracked_and_in_order() -> None:
    other = TopicPartition("ticks", 0)
    c = BulkFetchLoopConsumer([[(P0, 10), (other, 3), (P0, 11), (P1, 5)]], assigned={P0, P1})
    inbox: MessageInbox[Any] = MessageInbox(maxsize=10)
    deliver_in_bulk(c.app, SimpleNamespace(get_topic_name=lambda: "events"), inbox)
    delivered = [(m.tp, m.offset) for m in deliver(c, seek_at={})]
    assert delivered == [(other, 3)]  # only the other topic reaches Faust's streams
    in_inbox = [(m.tp, m.offset) for m in asyncio.run(inbox.take(10, within=0.0))]
    assert in_inbox == [(P0, 10), (P0, 11), (P1, 5)]
    assert c.tracked == in_inbox  # pending acknowledgement, as a stream's messages are
    assert c._read_offset[P0] == 11 and c._read_offset[P1] == 5


def test_bulk_delivery_counts_as_stream_activity_for_faust_s_livelock_check() -> None:
    """Faust logs "Stream has not started processing" for a partition with no stream event."""
    c = BulkFetchLoopConsumer([[(P0, 10), (P1, 5)]], assigned={P0, P1})
    c.app.monitor.stream_inbound_time = {}
    inbox: MessageInbox[Any] = MessageInbox(maxsize=10)
    deliver_in_bulk(c.app, SimpleNamespace(get_topic_name=lambda: "events"), inbox)
    deliver(c, seek_at={})
    assert set(c.app.monitor.stream_inbound_time) == {P0, P1}


def test_bulk_delivery_records_gaps_and_drops_during_a_rebalance() -> None:
    c = BulkFetchLoopConsumer([[(P0, 10), (P0, 14)], [(P0, 15)]], assigned={P0})
    inbox: MessageInbox[Any] = MessageInbox(maxsize=10)
    deliver_in_bulk(c.app, SimpleNamespace(get_topic_name=lambda: "events"), inbox)
    deliver(c, seek_at={})
    assert c.gaps == [(P0, 11, 14)]  # as Faust's fetch loop records them
    c.suspend_flow.set()  # partitions being revoked: not delivered, fetched again later
    deliver(c, seek_at={})
    assert [m.offset for m in asyncio.run(inbox.take(10, within=0.0))] == [10, 14]
    assert c.tracked == [(P0, 10), (P0, 14)]
    assert c.dropped_offsets == {P0: 15}  # what the offset ordering fetches again


def test_never_committed_bulk_partitions_start_again_from_their_beginning() -> None:
    """aiokafka seeks only to committed offsets above 0; the others start over."""
    ticks = TopicPartition("ticks", 0)
    sought: list[Any] = []

    async def seek_to_beginning(*tps: Any) -> None:
        sought.extend(tps)

    consumer = SimpleNamespace(
        app=SimpleNamespace(bulk_inboxes={"events": object()}),
        _thread=SimpleNamespace(seek_to_beginning=seek_to_beginning),
        _read_offset={P0: 40, P1: 12},
        dropped_offsets={P1: 12},
    )
    committed = {P0: 41, P1: None, TopicPartition("events", 2): 0, ticks: None}
    asyncio.run(seek_uncommitted_to_beginning(consumer, committed))
    assert sought == [P1, TopicPartition("events", 2)]
    assert consumer._read_offset == {P0: 40} and consumer.dropped_offsets == {}
