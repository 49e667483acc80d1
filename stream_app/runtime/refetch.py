"""Events applied in offset order, and offsets Faust never delivered fetched again.

The worker's events bypass Faust's streams (`faust_consumer.deliver_in_bulk`), so the order
guarantee is kept here: a message that arrives ahead of a missing offset is held back (never
acknowledged), and a timer asks the fetch loop to fetch the partition again. The consumer is
seen through the small `ConsumerView` protocol, so all of it runs in unit tests without Faust.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from stream_app.runtime.ordering import GapWatch, OffsetCursor, stuck_gaps
from stream_app.worker.metrics import Metrics
from stream_app.worker.pipeline import RawMessage, SourcePosition

log = logging.getLogger(__name__)

#: Fetches again in a row from one offset after which the line says how the fetch loop sees it.
REFETCHES_BEFORE_DIAGNOSIS = 3
#: Checks a fetch again may take to arrive while the fetch loop reads nothing past its offset
#: (a loop busy with another topic's messages applies a seek late and fetches slowly).
REFETCH_PATIENCE_CHECKS = 30

#: The first offset that exists in a partition at or after an offset (a broker round trip).
FirstOffsetLookup = Callable[[Any, int], Awaitable[int | None]]


class ConsumerView(Protocol):
    """What the ordering reads and asks of the consumer (`DecayConsumer` implements it)."""

    def assignment(self) -> set[Any]:
        """Partitions assigned now."""
        ...

    def committed_offset(self, tp: Any) -> int | None:
        """Next offset the partition is committed from (None: never committed)."""
        ...

    def set_committed_offset(self, tp: Any, offset: int) -> None:
        """Record where a never-committed partition starts."""
        ...

    async def earliest_offsets(self, *partitions: Any) -> Mapping[Any, int]:
        """First offset of each partition."""
        ...

    def acked_offsets(self, tp: Any) -> Collection[int]:
        """Offsets acknowledged and not yet committed."""
        ...

    def dropped_offset(self, tp: Any) -> int | None:
        """The last offset the fetch loop read and dropped, if none was delivered since."""
        ...

    def partitions_in_flight(self) -> set[Any]:
        """Partitions with a message delivered but not yet acknowledged."""
        ...

    def forget_delivery(self, message: Any) -> None:
        """Treat a delivered message as never delivered."""
        ...

    def request_seek(self, tp: Any, offset: int) -> None:
        """Fetch the partition again from the offset."""
        ...

    def fetch_state(self, tp: Any) -> str:
        """How the fetch loop sees the partition, for a log line."""
        ...

    def read_offset(self, tp: Any) -> int | None:
        """The last offset the fetch loop read (a seek sets it to the seek's offset)."""
        ...

    def seek_pending(self, tp: Any) -> bool:
        """True while a requested seek waits for the fetch loop."""
        ...


@dataclass
class OffsetOrdering:
    """Admits a batch's messages in offset order; fetches held-back and dropped offsets again."""

    topic: str
    #: The consumer, once Faust has created it.
    consumer_of: Callable[[], ConsumerView]
    first_offset: FirstOffsetLookup
    metrics: Metrics
    cursor: OffsetCursor = field(default_factory=OffsetCursor)
    gap_watch: GapWatch[Any] = field(default_factory=lambda: GapWatch(patience=3))
    stale: bool = True
    #: Partition → the expected offset seen at the last check while events are held back.
    held_behind: dict[Any, int] = field(default_factory=dict)
    #: Partition → how many times in a row it was fetched again from the same offset.
    refetched_from: dict[Any, tuple[int, int]] = field(default_factory=dict)
    #: Partition → checks waited since its last fetch again, with nothing read past it.
    refetch_waits: dict[Any, int] = field(default_factory=dict)

    @property
    def consumer(self) -> ConsumerView:
        """The consumer whose partitions are kept in order."""
        return self.consumer_of()

    def reassigned(self) -> None:
        """Partitions were assigned: restart the cursor at the committed offsets."""
        self.stale = True

    async def admit(self, messages: Sequence[Any]) -> list[RawMessage]:
        """The batch's messages, without those that arrived ahead of a missing offset.

        A message held back is marked as never delivered: it is not acknowledged, so its
        partition cannot be committed past it, and `refetch` fetches it again.
        """
        if self.stale:
            await self._restart_cursor()
        admitted = []
        for message in messages:
            floor = self.consumer.committed_offset(message.tp)
            if self.cursor.admit(message.partition, message.offset, floor):
                position = SourcePosition(message.topic, message.partition, message.offset)
                admitted.append(RawMessage(message.key, message.value, position))
            else:
                self.consumer.forget_delivery(message)
        if len(admitted) < len(messages):
            held = len(messages) - len(admitted)
            self.metrics.events_held_back_total.inc(held)
            log.warning(
                "%d events arrived ahead of a missing offset; they will be fetched again", held
            )
        return admitted

    async def _restart_cursor(self) -> None:
        tps = [tp for tp in self.consumer.assignment() if tp.topic == self.topic]
        committed = {tp: self.consumer.committed_offset(tp) for tp in tps}
        never_committed = [tp for tp, offset in committed.items() if offset is None]
        if never_committed:
            # The consumer starts those at their beginning (auto_offset_reset=earliest): that
            # is where they are committed from, so nothing before the first message delivered
            # can be skipped.
            earliest = await self.consumer.earliest_offsets(*never_committed)
            for tp in never_committed:
                committed[tp] = earliest[tp]
                self.consumer.set_committed_offset(tp, earliest[tp])
        self.cursor.restart({tp.partition: offset for tp, offset in committed.items()})
        self.stale = False

    async def refetch(self) -> None:
        """Ask the fetch loop to fetch again every partition stuck behind a missing offset."""
        tps = {tp for tp in self.consumer.assignment() if tp.topic == self.topic}
        in_flight = self.consumer.partitions_in_flight()
        targets = self._dropped(tps, in_flight)
        for tp in tps - in_flight:
            offset = await self._held_back(tp)
            if offset is not None:
                targets[tp] = min(targets.get(tp, offset), offset)
        for tp, offset in targets.items():
            self.fetch_again(tp, offset)

    def fetch_again(self, tp: Any, offset: int) -> None:
        """Ask the fetch loop to fetch the partition again from `offset` (counted)."""
        self.metrics.partition_refetches_total.inc()
        self.consumer.request_seek(tp, offset)

    def _dropped(self, tps: set[Any], in_flight: set[Any]) -> dict[Any, int]:
        """Offsets fetched but never delivered, stuck for `patience` checks: from where to fetch."""
        gaps = stuck_gaps(
            {tp: self.consumer.acked_offsets(tp) for tp in tps},
            {tp: self.consumer.committed_offset(tp) for tp in tps},
            in_flight,
            {tp: self.consumer.dropped_offset(tp) for tp in tps},
        )
        targets = {}
        for gap in self.gap_watch.confirmed(gaps):
            log.warning(
                "partition %d: offsets %d..%d were fetched but never delivered; fetching again",
                gap.tp.partition,
                gap.first,
                gap.end - 1,
            )
            targets[gap.tp] = gap.first
        return targets

    async def _held_back(self, tp: Any) -> int | None:
        """Where to fetch a partition again whose held-back events stopped moving, if any."""
        held, expected = self.cursor.held_back(tp.partition), self.cursor.expected(tp.partition)
        if held is None or expected is None:
            self.held_behind.pop(tp, None)
            self.refetched_from.pop(tp, None)
            self.refetch_waits.pop(tp, None)
            return None
        if self.held_behind.get(tp, expected) != expected:
            self.held_behind[tp] = expected  # still moving: the events may arrive by themselves
            return None
        if self._refetch_under_way(tp, expected):
            return None
        first = await self.first_offset(tp, expected)
        if first is not None and first > expected:
            log.info(
                "partition %d: offsets %d..%d do not exist (transaction markers or compaction)",
                tp.partition,
                expected,
                first - 1,
            )
            self.cursor.skip_to(tp.partition, first)
            expected = first
        self.held_behind[tp] = expected
        log.warning(
            "partition %d: events up to offset %d held back behind offset %d; "
            "fetching again from there",
            tp.partition,
            held,
            expected,
        )
        self._count_refetch(tp, expected)
        return expected

    def _refetch_under_way(self, tp: Any, expected: int) -> bool:
        """True while the last fetch again from `expected` may still arrive.

        Asking again then would undo it: a new seek drops what the fetch loop fetched since the
        last one. It is asked again once the loop read past `expected` without delivering it
        (the seek did not take), or after `REFETCH_PATIENCE_CHECKS` checks.
        """
        last = self.refetched_from.get(tp)
        if last is None or last[0] != expected:
            return False
        read = None if self.consumer.seek_pending(tp) else self.consumer.read_offset(tp)
        if read is not None and read > expected:
            return False
        waited = self.refetch_waits[tp] = self.refetch_waits.get(tp, 0) + 1
        return waited < REFETCH_PATIENCE_CHECKS

    def _count_refetch(self, tp: Any, offset: int) -> None:
        """Count fetches again from one offset; the third in a row says how the loop sees it."""
        last, times = self.refetched_from.get(tp, (offset, 0))
        times = times + 1 if last == offset else 1
        self.refetched_from[tp] = (offset, times)
        self.refetch_waits[tp] = 0
        if times == REFETCHES_BEFORE_DIAGNOSIS:
            log.error(
                "partition %d: fetched again %d times from offset %d, which never arrived"
                " (fetch loop: %s)",
                tp.partition,
                times,
                offset,
                self.consumer.fetch_state(tp),
            )
