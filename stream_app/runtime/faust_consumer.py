"""This app's Faust consumer: the one module that touches Faust's private internals.

Faust (faust-streaming 0.15) is extended through its own extension point, a transport whose
`Consumer` class is ours (`DecayApp` creates it), not by replacing methods process-wide.
`check_faust()` runs when the app is created: it refuses a Faust whose version, or the source
of a method this module replaces or calls, differs from the ones it was written against.

What Faust still does: group membership, the co-partitioning assignor, table recovery from
the changelog (the changelog records still go through Faust's own per-message path, to its
recovery), transactions under exactly-once, the web server and timers. What it no longer does
for the events and ticks topics: a message object, a lock and an acknowledgement per record.
`getmany` hands each fetched record list of those topics to its `BulkFeed`; offsets are the
feed's (one per partition per batch) and are committed through `commit_offsets`, which is
Faust's own commit (transactions included) for offsets we computed.

Starting partitions: a recovery ends with Faust's `perform_seek` (stream partitions to their
committed offsets). After it, the fetch loop itself, between two fetches, seeks every bulk
partition to its committed offset, or its first offset when it was never committed (aiokafka
seeks only to a committed offset above 0), and starts the feeds there; records fetched before
that seek never reach a feed. A revocation stops the feeds (`stop_feeds`).
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, ClassVar, cast

import faust
from aiokafka.structs import TopicPartition
from faust.transport.consumer import Consumer as FaustConsumer
from faust.transport.drivers import aiokafka as faust_aiokafka

from stream_app.runtime.feed import BulkFeed

log = logging.getLogger(__name__)

#: Faust versions this module was written against and tested with.
SUPPORTED_FAUST = ("0.15.",)
#: SHA-256 (first 16 hex digits) of the source of each Faust method this consumer replaces or
#: relies on: a Faust whose method changed must be read again before this module is trusted.
CHECKED_METHODS = {
    "getmany": "4b168d84882a70d6",
    "_wait_next_records": "6218e1969a636b3f",
    "_commit_offsets": "1a69799041188441",
    "perform_seek": "0e8c130ff4b0afd8",
}
#: Private attributes of Faust's consumer read here.
PRIVATE_ATTRIBUTES = ("_committed_offset", "_buffered_partitions")


class FaustMismatchError(RuntimeError):
    """The installed Faust is not the one this consumer was written against."""


def method_fingerprint(method: Callable[..., Any]) -> str:
    """A short hash of a method's source text."""
    return hashlib.sha256(inspect.getsource(method).encode()).hexdigest()[:16]


def check_faust() -> None:
    """Refuse to run on a Faust whose version or checked methods are not the known ones."""
    if not faust.__version__.startswith(SUPPORTED_FAUST):
        raise FaustMismatchError(
            f"faust-streaming {faust.__version__} is not supported (tested: {SUPPORTED_FAUST})"
        )
    for name, expected in CHECKED_METHODS.items():
        found = method_fingerprint(getattr(FaustConsumer, name))
        if found != expected:
            raise FaustMismatchError(
                f"faust Consumer.{name} changed (source hash {found}, expected {expected}):"
                " stream_app.runtime.faust_consumer must be checked against it"
            )


def store_put(store: Any, key: bytes, value: bytes, partition: int) -> None:
    """Write `key` to the table's local store for `partition`, outside any stream event.

    Faust's RocksDB store takes the partition of a write from the current stream event, which
    the bulk path does not have (its `_set` asserts one); the memory store has no partitions.
    """
    db_for_partition = getattr(store, "_db_for_partition", None)
    if db_for_partition is None:
        store[key] = value
        return
    encoded = store._encode_key(key)
    store._key_index[encoded] = partition
    db_for_partition(partition).put(encoded, store._encode_value(value))


def mark_inbound(consumer: Any, tp: Any) -> None:
    """Record records handed over for `tp`, as a stream's first step records a message.

    Faust's consumer thread takes a partition with messages waiting and no stream event for 5
    minutes for a stuck stream and logs an error for it at every check.
    """
    inbound = getattr(getattr(consumer.app, "monitor", None), "stream_inbound_time", None)
    if isinstance(inbound, dict):
        inbound[tp] = time.monotonic()


class DecayConsumer(faust_aiokafka.Consumer):  # type: ignore[misc]
    """Faust's aiokafka consumer, handing the bulk topics' records to their feeds."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        missing = [name for name in PRIVATE_ATTRIBUTES if not hasattr(self, name)]
        if missing:
            raise FaustMismatchError(f"faust Consumer has no {', '.join(missing)}")
        #: The generation whose recovery finished and whose feeds are not started yet.
        self.feeds_to_start: int | None = None

    @property
    def feeds(self) -> dict[str, BulkFeed]:
        """Topic → its feed."""
        app: Any = self.app
        feeds: dict[str, BulkFeed] = app.bulk_feeds
        return feeds

    def feeds_ready(self) -> bool:
        """True unless feeds wait to be started after a recovery."""
        return self.feeds_to_start is None

    async def perform_seek(self) -> None:
        """Faust's seek to the committed offsets at the end of a recovery; the feeds start at
        the fetch loop's next turn."""
        await super().perform_seek()
        self.feeds_to_start = self.app.consumer_generation_id

    def stop_feeds(self) -> None:
        """Partitions are revoked: every feed stops until the next recovery."""
        self.feeds_to_start = None
        for feed in self.feeds.values():
            feed.stop()

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
        """Faust's fetch: bulk topics' records to their feeds, other records (the changelog,
        read by the recovery) to Faust as messages."""
        await self._start_feeds()
        generation = self.app.consumer_generation_id  # a rebalance during the fetch: stale
        records, active = await self._wait_next_records(timeout)
        if records is None or self.should_stop:
            return
        if not self.flow_active:  # as Faust: what was fetched is read again from the commit
            await self.perform_seek()
            return
        for tp, batch in records.items():
            if active is not None and tp not in active and tp not in self._buffered_partitions:
                continue
            feed = self.feeds.get(tp.topic)
            if feed is None:
                self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                for record in batch:
                    yield tp, self._to_message(tp, record)
                continue
            await feed.wait_for_space()
            if generation == self.app.consumer_generation_id and feed.deliver(tp.partition, batch):
                mark_inbound(self, tp)

    async def _start_feeds(self) -> None:
        """Seek the bulk partitions to their committed (or first) offsets and start the feeds."""
        generation = self.feeds_to_start
        if generation is None or generation != self.app.consumer_generation_id:
            return
        self.feeds_to_start = None
        tps = [tp for tp in self.assignment() if tp.topic in self.feeds]
        committed: dict[Any, int | None] = {tp: self._committed_offset.get(tp) for tp in tps}
        positions = {tp: offset for tp, offset in committed.items() if offset is not None}
        never = [tp for tp, offset in committed.items() if offset is None]
        if never:
            positions.update(await self.earliest_offsets(*never))
        if positions:
            await self.seek_wait(positions)
        for topic, feed in self.feeds.items():
            feed.start({tp.partition: o for tp, o in positions.items() if tp.topic == topic})
        app: Any = self.app
        for started in app.on_feeds_started:
            started()
        log.info(
            "started partitions %s",
            sorted(f"{tp.topic}-{tp.partition}@{positions[tp]}" for tp in positions),
        )

    async def commit_offsets(self, offsets: Mapping[str, Mapping[int, int]]) -> bool:
        """Commit topic → partition → next offset, as Faust commits (a transaction per input
        partition under exactly-once); offsets of revoked partitions are discarded."""
        tps = {
            TopicPartition(topic, partition): offset
            for topic, partitions in offsets.items()
            for partition, offset in partitions.items()
        }  # aiokafka's own type: its transactions refuse any other
        committed: bool = await self._commit_offsets(tps)
        return committed

    def end_offset(self, topic: str, partition: int) -> int | None:
        """The partition's end offset as the fetcher last saw it (None before any fetch)."""
        try:
            end: int | None = self.highwater(faust.types.TP(topic, partition))
        except Exception:  # not assigned (any more)
            return None
        return end


class DecayTransport(faust_aiokafka.Transport):  # type: ignore[misc]
    """The aiokafka transport, creating `DecayConsumer`s."""

    Consumer: ClassVar[type[Any]] = DecayConsumer


class DecayApp(faust.App):  # type: ignore[misc]
    """A Faust app whose consumer is `DecayConsumer`; `bulk_feeds` are its bulk topics."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        check_faust()
        super().__init__(*args, **kwargs)
        self.bulk_feeds: dict[str, BulkFeed] = {}
        #: Called once the feeds started on a new assignment (the assignment is ready).
        self.on_feeds_started: list[Callable[[], None]] = []

    def _new_transport(self) -> Any:
        return DecayTransport(self.conf.broker_consumer, self)

    @property
    def decay_consumer(self) -> DecayConsumer:
        """The app's consumer, created by Faust on first use."""
        consumer: Any = self.consumer
        return cast(DecayConsumer, consumer)


def deliver_in_bulk(app: Any, topic: Any, feed: BulkFeed) -> None:
    """Deliver the records of `topic` into `feed` instead of to a Faust stream (the app
    subscribes to the topic as if an agent read it)."""
    app.bulk_feeds[topic.get_topic_name()] = feed
    app.topics.add(topic)
