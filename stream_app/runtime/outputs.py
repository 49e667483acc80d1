"""What the worker writes to Kafka through Faust's producer: outputs and the state changelog."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterable
from typing import Any

import faust
from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError
from faust.transport.consumer import TopicPartitionGroup, TransactionManager

from stream_app.events.partitioning import Partitioner, partition_for_key
from stream_app.runtime.faust_consumer import store_put

log = logging.getLogger(__name__)

SIZE_ERRORS = (MessageSizeTooLargeError, RecordTooLargeError)


def too_large(exc: BaseException) -> bool:
    """True for a send refused for its size (by aiokafka, or as Faust's wrapped error)."""
    return isinstance(exc, SIZE_ERRORS) or isinstance(exc.__cause__, SIZE_ERRORS)


class ProducerSink:
    """The `OutputSink` port on Faust's producer; the caller awaits the acknowledgement.

    Messages go to the producer directly, not through `Topic.send` (a future message and the
    monitor's sensors per message). Exactly once: a message caused by an input partition joins
    that partition's transaction, which the checkpoint commits with the partition's offsets; a
    message of no input (a due tick) is sent outside any transaction, readable at once.
    """

    def __init__(self, app: faust.App, exactly_once: bool) -> None:
        self.app = app
        self.exactly_once = exactly_once

    def transactional_id(self, source: tuple[str, int] | None) -> str | None:
        """Faust's transactional id of the source partition's transaction (exactly once)."""
        if not self.exactly_once or source is None:
            return None
        app: Any = self.app
        topic, partition = source
        group = TopicPartitionGroup(topic, partition, app.assignor.group_for_topic(topic))
        name: str = TransactionManager.transactional_id_format.format(
            group_id=app.conf.id, tpg=group
        )
        return name

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        *,
        partition: int | None,
        source: tuple[str, int] | None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> Awaitable[Any]:
        """Send; returns the acknowledgement to await."""
        app: Any = self.app
        sent: Awaitable[Any] = await app.producer.send(
            topic, key, value, partition, None, headers,
            transactional_id=self.transactional_id(source),
        )  # fmt: skip
        return sent


class ChangelogStore:
    """The user-state table as the service's `StateStore`: a record cache over Faust's local
    store and its changelog topic.

    A write updates the local store at once (reads see it) and marks the user dirty; `flush`
    sends one changelog record per dirty user, its last value; `persisted` waits for the
    broker's acknowledgements and records the changelog offset the local store holds (RocksDB
    keeps it on disk, so a restart on the same volume reads only the changelog after it). Under
    exactly-once each record joins the transaction of `source_topic`'s partition of its key.
    """

    def __init__(
        self,
        table: Any,
        partitions: int,
        sink: ProducerSink,
        source_topic: str,
        partitioner: Partitioner = Partitioner.MURMUR2,
    ) -> None:
        self.table = table
        self.partitions = partitions
        self.partitioner = partitioner
        self.sink = sink
        self.source_topic = source_topic
        #: Key → (last value, changelog partition) of every user written since the last flush.
        self._dirty: dict[bytes, tuple[bytes, int]] = {}
        self._in_flight: list[Awaitable[Any]] = []

    def partition_of(self, key: bytes) -> int:
        """The changelog partition of `key`: its events' partition."""
        return partition_for_key(key, self.partitions, self.partitioner)

    def get(self, key: bytes) -> bytes | None:
        """Stored value or None."""
        value = self.table.data.get(key)
        return value if value is None else bytes(value)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        partition = self.partition_of(key)  # once per write: the flush reuses it
        store_put(self.table.data, key, value, partition)
        self._dirty[key] = value, partition

    def __len__(self) -> int:
        return len(self.table.data)

    def items(self) -> Iterable[tuple[bytes, bytes]]:
        """Every key and value of the local store."""
        return list(self.table.data.items())

    def dirty(self) -> int:
        """Users written since the last flush."""
        return len(self._dirty)

    async def flush(self) -> None:
        """Send the changelog record of every user written since the last flush."""
        dirty, self._dirty = self._dirty, {}
        topic = self.table.changelog_topic.get_topic_name()
        for key, (value, partition) in dirty.items():
            self._in_flight.append(
                await self.sink.send(
                    topic, key, value, partition=partition, source=(self.source_topic, partition)
                )
            )

    async def persisted(self) -> None:
        """Wait for every changelog record sent so far, in the order sent."""
        in_flight, self._in_flight = self._in_flight, []
        for ack in in_flight:
            self._persisted(await ack)

    def _persisted(self, sent: Any) -> None:
        tp = getattr(sent, "topic_partition", None)
        if tp is None:
            return
        if self.sink.exactly_once:
            self.sink.app.tables.persist_offset_on_commit(self.table.data, tp, sent.offset)
        else:
            self.table.data.set_persisted_offset(tp, sent.offset)
