"""A topic's records handed from Faust's fetch loop to one batch loop, with our own offsets.

The feed implements the service's `BatchSource` port. Faust's consumer (`DecayConsumer`)
fetches the topic as usual but puts each fetched record list here instead of making a message
object per record for a stream. Positions are the feed's: a partition starts, once its table is
recovered, at its committed offset (its first offset when never committed), every record below
the next expected offset is a redelivery and is skipped, and a batch is acknowledged as one
offset per partition, committed by the checkpoint. Nothing is acknowledged per message, so no
message can be dropped between the fetch and the service.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from stream_app.service.ports import (
    Batch,
    PartitionPosition,
    RawMessage,
    SourcePosition,
    end_offsets,
)


class BulkFeed:
    """Records of one topic in arrival order, taken a batch at a time (a `BatchSource`)."""

    def __init__(self, topic: str, maxsize: int, end_offset: Callable[[int], int | None]) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, got {maxsize}")
        self.topic = topic
        self.maxsize = maxsize
        self._end_offset = end_offset
        self._messages: deque[RawMessage] = deque()
        #: Started partitions → the next offset to hand over.
        self._next: dict[int, int] = {}
        #: Partition → the offset after its last acknowledged message, and its committed offset.
        self._acked: dict[int, int] = {}
        self._committed: dict[int, int] = {}
        #: Counts the starts and stops: a batch taken under another generation is stale.
        self.generation = 0
        self._arrived = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()

    # -- the fetch side (the adapter) ------------------------------------------------------

    def start(self, positions: dict[int, int]) -> None:
        """Start handing over the partitions from these offsets (their table is recovered)."""
        self.generation += 1
        for partition, offset in positions.items():
            self._next[partition] = self._committed[partition] = offset
            self._acked.pop(partition, None)

    def stop(self, partitions: Iterable[int] | None = None) -> None:
        """Stop the partitions (all by default): what waits for them is dropped."""
        self.generation += 1
        stopped = set(self._next if partitions is None else partitions)
        for partition in stopped:
            self._next.pop(partition, None)
            self._acked.pop(partition, None)
            self._committed.pop(partition, None)
        self._messages = deque(m for m in self._messages if m.source.partition not in stopped)
        self._space.set()

    def started(self, partition: int) -> bool:
        """True while the partition is handed over."""
        return partition in self._next

    def full(self) -> bool:
        """True when as many messages wait as the feed holds."""
        return len(self._messages) >= self.maxsize

    async def wait_for_space(self) -> None:
        """Return once the feed has room (the fetch loop waits here: back-pressure)."""
        while self.full():
            self._space.clear()
            await self._space.wait()

    def deliver(self, partition: int, records: Sequence[Any]) -> int:
        """Hand over fetched records (with `.key`, `.value`, `.offset`) of a started partition;
        records below the next expected offset are redeliveries and skipped. Returns how many
        were handed over."""
        expected = self._next.get(partition)
        if expected is None:
            return 0
        topic, before = self.topic, len(self._messages)
        append = self._messages.append
        for record in records:
            offset = record.offset
            if offset >= expected:
                append(
                    RawMessage(record.key, record.value, SourcePosition(topic, partition, offset))
                )
                expected = offset + 1
        self._next[partition] = expected
        if len(self._messages) > before:
            self._arrived.set()
        return len(self._messages) - before

    # -- the service side (BatchSource) ----------------------------------------------------

    async def take(self, max_messages: int, within_seconds: float, idle_seconds: float) -> Batch:
        """Up to `max_messages` messages: wait up to `idle_seconds` for a first one, then up to
        `within_seconds` for the rest."""
        if not self._messages and not await self._wait_arrival(idle_seconds):
            return Batch([], self.generation)
        if len(self._messages) < max_messages:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + within_seconds
            while len(self._messages) < max_messages and (left := deadline - loop.time()) > 0:
                if not await self._wait_arrival(left):
                    break
        count = min(max_messages, len(self._messages))
        popleft = self._messages.popleft
        messages = [popleft() for _ in range(count)]
        if not self.full():
            self._space.set()
        return Batch(messages, self.generation)

    async def _wait_arrival(self, seconds: float) -> bool:
        """Wait up to `seconds` for a delivery; True when one came."""
        self._arrived.clear()
        try:
            await asyncio.wait_for(self._arrived.wait(), seconds)
        except TimeoutError:
            return False
        return True

    def waiting(self) -> int:
        """Messages fetched and not yet taken."""
        return len(self._messages)

    def admit(self, batch: Batch) -> list[RawMessage]:
        """The batch's messages, unless a start or stop came since it was taken."""
        return batch.messages if batch.generation == self.generation else []

    def acknowledge(self, messages: Sequence[RawMessage]) -> None:
        """One offset per partition: the one after its last message in `messages`."""
        for partition, end in end_offsets(messages).items():
            if partition in self._next and end > self._acked.get(partition, -1):
                self._acked[partition] = end

    def uncommitted(self) -> dict[int, int]:
        """Partition → offset to commit, where it is past the committed one."""
        committed = self._committed
        return {p: o for p, o in self._acked.items() if o > committed.get(p, -1)}

    def committed(self, offsets: dict[int, int]) -> None:
        """The offsets were committed."""
        for partition, offset in offsets.items():
            if partition in self._next:
                self._committed[partition] = offset

    def assigned(self) -> set[int]:
        """The partitions handed over now."""
        return set(self._next)

    def positions(self) -> list[PartitionPosition]:
        """Each started partition's last processed offset and end offset."""
        return [
            PartitionPosition(
                partition,
                max(self._acked.get(partition, 0), self._committed.get(partition, 0)) - 1,
                self._end_offset(partition),
            )
            for partition in sorted(self._next)
        ]
