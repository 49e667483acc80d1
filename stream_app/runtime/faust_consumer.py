"""This app's Faust consumer: the one module that touches Faust's private internals.

Faust (faust-streaming 0.15) is extended here through its own extension point, a transport
whose `Consumer` class is ours (`DecayApp` creates it), not by replacing methods process-wide.
`check_faust()` runs when the app is created: it refuses a Faust whose version or whose
replaced methods differ from the ones this module was written against.

Commits: Faust commits a partition up to its first gap in acknowledged offsets, but it lets a
gap of exactly one offset through: with offsets committed up to (not including) N and N+1,
N+2, ... acknowledged, it commits N+3 and the message at N, never delivered, is lost. Here a
partition commits only when its acknowledged offsets start at the committed offset (or the
missing ones are offsets Faust knows do not exist, such as transaction markers). A partition
held back this way is fetched again by the worker's offset ordering (`stream_app.runtime.refetch`).

Seeks: `Consumer.seek` called while Faust's fetch loop is delivering a batch does not take:
the loop records the batch's offsets as read after the seek, and then drops the messages the
seek fetches again as already read (and the seek itself reaches into the consumer thread's
client from the wrong thread). `request_seek` instead hands the seek to the fetch loop, which
applies it in the consumer thread between two messages.

A seek to the committed offsets (Faust's, when a recovery completes) runs while the fetch
loop may be delivering a batch fetched before it: that batch would overwrite the read offsets
the seek set and record the offsets in between as a gap, which Faust then commits past. The
loop drops the rest of such a batch (`seek_epoch`).

Bulk delivery: Faust hands every fetched message to its streams one at a time (a task pair
per message in the fetch loop, a lock, decoding, a queue per channel, the stream's iteration
and acknowledgement), which costs more per event than the worker's whole batched pipeline.
`deliver_in_bulk` routes the messages of one topic from the fetch loop straight into a
`MessageInbox` that one task drains a batch at a time; the offset bookkeeping (read offsets,
gaps, pending acknowledgements, flow control during rebalances) is the same as for a stream.

Recovery: when a recovery completes, Faust resumes the stream partitions, seeks them to their
committed offsets and then clears the buffers, the inbox included, of what was fetched in
between. aiokafka seeks only to a committed offset above 0, so a partition never committed
(or committed at 0) kept a fetch position past the messages just cleared, and nothing fetched
them again (the partition stalled with messages waiting). Such partitions of a bulk topic are
sought to their beginning there (`seek_uncommitted_to_beginning`), as `auto_offset_reset`
would.

The module-level functions take the consumer as an argument, so unit tests drive them with
Faust's real fetch loop over a scripted stand-in.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping
from typing import Any, ClassVar

import faust
from faust.transport.consumer import Consumer as FaustConsumer
from faust.transport.drivers import aiokafka as faust_aiokafka

from stream_app.runtime.inbox import MessageInbox

log = logging.getLogger(__name__)

#: Faust versions this module was written against and tested with.
SUPPORTED_FAUST = ("0.15.",)
#: SHA-256 (first 16 hex digits) of the source of each Faust method this consumer replaces:
#: a Faust whose method changed must be read again before the replacement is trusted.
REPLACED_METHODS = {
    "getmany": "4b168d84882a70d6",
    "_new_offset": "1d2c7ea89a7ad4f1",
}
#: Private attributes of Faust's consumer read or written here.
PRIVATE_ATTRIBUTES = (
    "_acked",
    "_committed_offset",
    "_unacked_messages",
    "_read_offset",
    "_gap",
    "_commit_every",
    "_n_acked",
    "_active_partitions",
    "_paused_partitions",
    "_thread",
)
_YIELD_EVERY = 256
_IDLE_FETCH_SECONDS = 0.2


class FaustMismatchError(RuntimeError):
    """The installed Faust is not the one this consumer was written against."""


def method_fingerprint(method: Callable[..., Any]) -> str:
    """A short hash of a method's source text."""
    return hashlib.sha256(inspect.getsource(method).encode()).hexdigest()[:16]


def check_faust() -> None:
    """Refuse to run on a Faust whose version or replaced methods are not the known ones."""
    if not faust.__version__.startswith(SUPPORTED_FAUST):
        raise FaustMismatchError(
            f"faust-streaming {faust.__version__} is not supported (tested: {SUPPORTED_FAUST})"
        )
    for name, expected in REPLACED_METHODS.items():
        found = method_fingerprint(getattr(FaustConsumer, name))
        if found != expected:
            raise FaustMismatchError(
                f"faust Consumer.{name} changed (source hash {found}, expected {expected}):"
                " stream_app.runtime.faust_consumer must be checked against it"
            )


# -- commits ---------------------------------------------------------------------------------


def strict_new_offset(consumer: Any, tp: Any) -> int | None:
    """Faust's next offset to commit, or None while the acked offsets start past a gap.

    An offset acknowledged twice is counted once: Faust adds the offsets of its gap record to
    the acknowledged ones, and an offset it took for missing that was delivered after all is
    acknowledged again. Faust's run of consecutive offsets would stop at each such duplicate,
    and the commits would crawl one offset at a time.
    """
    acked = consumer._acked.get(tp)
    if acked:
        unique = set(acked)
        if len(unique) < len(acked):
            acked[:] = sorted(unique)
    committed = consumer._committed_offset.get(tp)
    if acked and committed is not None and min(acked) > committed:
        known_missing = consumer._gap.get(tp)
        if not (known_missing and known_missing.overlaps_point(committed)):
            return None
    result: int | None = FaustConsumer._new_offset(consumer, tp)
    return result


# -- the ordering's view of the consumer -----------------------------------------------------


def committed_offset(consumer: Any, tp: Any) -> int | None:
    """The next offset the partition is committed from (None: never committed)."""
    offset: int | None = consumer._committed_offset.get(tp)
    return offset


def set_committed_offset(consumer: Any, tp: Any, offset: int) -> None:
    """Record where a never-committed partition starts (its earliest offset)."""
    consumer._committed_offset[tp] = offset


def acked_offsets(consumer: Any, tp: Any) -> Collection[int]:
    """Offsets acknowledged and not yet committed."""
    acked: Collection[int] = consumer._acked.get(tp, ())
    return acked


def fetch_state(consumer: Any, tp: Any) -> str:
    """How the fetch loop sees a partition: fetched or paused, offsets read, dropped, committed."""
    active = consumer._active_partitions
    return ", ".join(
        f"{name}={value}"
        for name, value in (
            ("flow", "active" if consumer.flow_active else "stopped"),
            ("fetched", active is None or tp in active),
            ("paused", tp in consumer._paused_partitions),
            ("read", read_offset(consumer, tp)),
            ("dropped", consumer.dropped_offsets.get(tp)),
            ("committed", consumer._committed_offset.get(tp)),
            ("in_flight", tp in partitions_in_flight(consumer)),
            ("seek_requested", consumer.requested_seeks.get(tp)),
            ("generation", consumer.app.consumer_generation_id),
            ("rebalancing", consumer.app.rebalancing),
        )
    )


def read_offset(consumer: Any, tp: Any) -> int | None:
    """The last offset the fetch loop read (a seek sets it to the seek's offset)."""
    offset: int | None = consumer._read_offset.get(tp)
    return offset


def partitions_in_flight(consumer: Any) -> set[Any]:
    """Partitions with a message delivered but not yet acknowledged."""
    return {message.tp for message in consumer._unacked_messages}


def forget_delivery(consumer: Any, message: Any) -> None:
    """Treat a delivered message as never delivered: it is not acknowledged, ever.

    The later acknowledgement becomes a no-op, so the offset stays out of the acknowledged
    set; the partition is not committed past it and it is fetched again.
    """
    message.acked = True  # Faust's ack of an already-acked message does nothing
    consumer._unacked_messages.discard(message)


def acknowledge(consumer: Any, messages: Iterable[Any]) -> None:
    """Acknowledge messages delivered in bulk (a message forgotten or acked stays as it is)."""
    message_out = consumer.app.sensors.on_message_out
    for message in messages:
        if consumer.ack(message):
            message_out(message.tp, message.offset, message)


# -- the table's local store outside a stream event ------------------------------------------


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


# -- seeks and bulk delivery in the fetch loop -----------------------------------------------


def request_seek(consumer: Any, tp: Any, offset: int) -> None:
    """Ask the fetch loop to fetch `tp` again from `offset` before its next message."""
    requested: dict[Any, int] = consumer.requested_seeks
    requested[tp] = min(requested.get(tp, offset), offset)


async def fetch_between_seeks(consumer: Any, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
    """Faust's fetch loop, applying requested seeks between messages and filling the inboxes.

    A requested seek runs in the consumer thread once the message being delivered is done;
    the rest of the batch already fetched for that partition is dropped (it comes again from
    the new offset). An idle loop looks for requests every `_IDLE_FETCH_SECONDS`.
    """
    await _apply_requested_seeks(consumer)
    inboxes: dict[str, MessageInbox[Any]] = consumer.app.bulk_inboxes
    sought: set[Any] = set()  # partitions whose rest of this batch predates their seek
    epoch = consumer.seek_epoch
    diverted = 0
    async for tp, message in FaustConsumer.getmany(consumer, min(timeout, _IDLE_FETCH_SECONDS)):
        if consumer.seek_epoch != epoch:
            return  # all partitions sought to their committed offsets since: the rest is stale
        if consumer.requested_seeks:
            sought |= await _apply_requested_seeks(consumer)
        if tp in sought:
            continue
        inbox = inboxes.get(tp.topic)
        if inbox is None:
            yield tp, message
            continue
        await _deliver_to_inbox(consumer, tp, message, inbox)
        diverted += 1
        if not diverted % _YIELD_EVERY:
            await asyncio.sleep(0)  # let the batch task run


def mark_inbound(consumer: Any, tp: Any) -> None:
    """Record a message handed over for `tp`, as a stream's first step records it.

    Faust's consumer thread takes a partition with messages waiting and no stream event since
    the start (or for 5 minutes) for a stuck stream and logs an error for it at every check;
    without this, a worker whose events all go through an inbox was reported stuck after 5
    minutes under any lag. An inbox that stays full stops the hand-over, and the check fires
    as it should.
    """
    inbound = getattr(getattr(consumer.app, "monitor", None), "stream_inbound_time", None)
    if isinstance(inbound, dict):
        inbound[tp] = time.monotonic()


async def _deliver_to_inbox(consumer: Any, tp: Any, message: Any, inbox: MessageInbox[Any]) -> None:
    """What Faust's fetch loop does for a message, with the inbox in place of the streams."""
    offset = message.offset
    read = consumer._read_offset[tp]
    if read is not None and offset < read:
        return  # read before: Faust drops it too
    if read and offset - read > 1 and consumer.app.topics.acks_enabled_for(tp.topic):
        await consumer._add_gap(tp, read + 1, offset)
    commit_every = consumer._commit_every
    if commit_every is not None and consumer._n_acked >= commit_every:
        consumer._n_acked = 0
        await consumer.commit()
    await consumer.app.flow_control.acquire()
    await inbox.wait_for_space()
    if not consumer.suspend_flow.is_set():
        consumer.track_message(message)
        inbox.put_nowait(message)
        consumer.dropped_offsets.pop(tp, None)
        mark_inbound(consumer, tp)
    else:  # a rebalance began: the ordering fetches it again (`dropped_offset`)
        consumer.dropped_offsets[tp] = offset
    consumer._read_offset[tp] = offset


async def _apply_requested_seeks(consumer: Any) -> set[Any]:
    """Apply the requested seeks of partitions still assigned (in the consumer thread)."""
    requested, consumer.requested_seeks = consumer.requested_seeks, {}
    if not requested:
        return set()
    assigned = consumer.assignment()
    seeks = {tp: offset for tp, offset in requested.items() if tp in assigned}
    if not seeks:
        return set()
    try:
        await consumer.seek_wait(seeks)
    except Exception as exc:  # a failed seek must not stop the fetch loop
        log.warning(
            "fetching again from %s failed (%r); the offset ordering will ask again",
            {f"{tp.topic}-{tp.partition}": offset for tp, offset in seeks.items()},
            exc,
        )
        return set()
    return set(seeks)


async def seek_uncommitted_to_beginning(consumer: Any, committed: Mapping[Any, int | None]) -> None:
    """After Faust's seek to the committed offsets: bulk-topic partitions without a committed
    offset above 0, which aiokafka did not seek, start again from their beginning."""
    bulk = set(consumer.app.bulk_inboxes)
    tps = sorted(
        (tp for tp, offset in committed.items() if tp.topic in bulk and not (offset or 0) > 0),
        key=lambda tp: (tp.topic, tp.partition),
    )
    if not tps:
        return
    await consumer._thread.seek_to_beginning(*tps)  # in the consumer thread
    for tp in tps:
        consumer._read_offset.pop(tp, None)
        consumer.dropped_offsets.pop(tp, None)


# -- the classes Faust instantiates ----------------------------------------------------------


class DecayConsumer(faust_aiokafka.Consumer):  # type: ignore[misc]
    """Faust's aiokafka consumer with strict commits, seeks between messages, bulk delivery."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        missing = [name for name in PRIVATE_ATTRIBUTES if not hasattr(self, name)]
        if missing:
            raise FaustMismatchError(f"faust Consumer has no {', '.join(missing)}")
        self.requested_seeks: dict[Any, int] = {}
        self.dropped_offsets: dict[Any, int] = {}
        #: Counts seeks of every partition to its committed offset (Faust's, at recovery).
        self.seek_epoch = 0

    def _new_offset(self, tp: Any) -> int | None:
        return strict_new_offset(self, tp)

    async def seek_to_committed(self) -> Mapping[Any, int]:
        """Faust's seek to the committed offsets, and never-committed bulk partitions to their
        beginning (see the module docstring, Recovery)."""
        self.requested_seeks.clear()  # asked for under the assignment this seek supersedes
        self.seek_epoch += 1  # the batch being delivered predates the seek: the loop drops it
        committed: Mapping[Any, int] = await super().seek_to_committed()
        self.seek_epoch += 1  # and so does one fetched while the seek ran
        await seek_uncommitted_to_beginning(self, committed)
        return committed

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
        async for item in fetch_between_seeks(self, timeout):
            yield item

    # The `stream_app.runtime.refetch.ConsumerView` protocol, and the batch task's acks.

    def committed_offset(self, tp: Any) -> int | None:
        """Next offset the partition is committed from (None: never committed)."""
        return committed_offset(self, tp)

    def set_committed_offset(self, tp: Any, offset: int) -> None:
        """Record where a never-committed partition starts."""
        set_committed_offset(self, tp, offset)

    def acked_offsets(self, tp: Any) -> Collection[int]:
        """Offsets acknowledged and not yet committed."""
        return acked_offsets(self, tp)

    def fetch_state(self, tp: Any) -> str:
        """How the fetch loop sees a partition (for the stall log line)."""
        return fetch_state(self, tp)

    def dropped_offset(self, tp: Any) -> int | None:
        """The last offset the fetch loop read and dropped, if none was delivered since."""
        return self.dropped_offsets.get(tp)

    def read_offset(self, tp: Any) -> int | None:
        """The last offset the fetch loop read (a seek sets it to the seek's offset)."""
        return read_offset(self, tp)

    def seek_pending(self, tp: Any) -> bool:
        """True while a requested seek waits for the fetch loop."""
        return tp in self.requested_seeks

    def partitions_in_flight(self) -> set[Any]:
        """Partitions with a message delivered but not yet acknowledged."""
        return partitions_in_flight(self)

    def forget_delivery(self, message: Any) -> None:
        """Treat a delivered message as never delivered."""
        forget_delivery(self, message)

    def request_seek(self, tp: Any, offset: int) -> None:
        """Fetch the partition again from the offset, between two messages."""
        request_seek(self, tp, offset)

    def acknowledge(self, messages: Iterable[Any]) -> None:
        """Acknowledge messages delivered in bulk."""
        acknowledge(self, messages)


class DecayTransport(faust_aiokafka.Transport):  # type: ignore[misc]
    """The aiokafka transport, creating `DecayConsumer`s."""

    Consumer: ClassVar[type[Any]] = DecayConsumer


class DecayApp(faust.App):  # type: ignore[misc]
    """A Faust app whose consumer is `DecayConsumer`; `bulk_inboxes` are its bulk topics."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        check_faust()
        super().__init__(*args, **kwargs)
        self.bulk_inboxes: dict[str, MessageInbox[Any]] = {}

    def _new_transport(self) -> Any:
        return DecayTransport(self.conf.broker_consumer, self)


def deliver_in_bulk(app: Any, topic: Any, inbox: MessageInbox[Any]) -> None:
    """Deliver the messages of `topic` into `inbox` instead of to a Faust stream.

    The app subscribes to the topic as if an agent read it. Whoever drains the inbox
    acknowledges each message with `acknowledge` once its effects are durable; the inbox is
    cleared where Faust clears its stream buffers (partitions revoked, flow resumed).
    """
    app.bulk_inboxes[topic.get_topic_name()] = inbox
    app.topics.add(topic)
    app.flow_control.manage_queue(inbox)
