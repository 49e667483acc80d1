"""Corrections to Faust's offset bookkeeping, applied once when the app is created.

Commits: Faust (faust-streaming 0.15) commits a partition up to its first gap in acknowledged
offsets, but it lets a gap of exactly one offset through: with offsets committed up to (not
including) N and N+1, N+2, ... acknowledged, it commits N+3 and the message at N, never
delivered, is lost. Here a partition commits only when its acknowledged offsets start at the
committed offset (or the missing ones are offsets Faust knows do not exist, such as
transaction markers). A partition held back this way is fetched again by the worker's
offset-gap watch (`stream_app.runtime.ordering`).

Seeks: `Consumer.seek` called while Faust's fetch loop is delivering a batch does not take:
the loop records the batch's offsets as read after the seek, and then drops the messages the
seek fetches again as already read (and the seek itself reaches into the consumer thread's
client from the wrong thread). `request_seek` instead hands the seek to the fetch loop, which
applies it in the consumer thread between two messages.

Bulk delivery: Faust hands every fetched message to its streams one at a time (a task pair
per message in the fetch loop, a lock, decoding, a queue per channel, the stream's iteration
and acknowledgement), which costs more per event than the worker's whole batched pipeline.
`deliver_in_bulk` routes the messages of one topic from the fetch loop straight into a
`MessageInbox` that one task drains a batch at a time; the offset bookkeeping (read offsets,
gaps, pending acknowledgements, flow control during rebalances) is the same as for a stream.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from faust.transport.consumer import Consumer

from stream_app.runtime.inbox import MessageInbox

log = logging.getLogger(__name__)

_PATCHED = "_decay_stream_strict_gaps"
_SEEKS_PATCHED = "_decay_stream_seeks_between_fetches"
_REQUESTED_SEEKS = "_decay_stream_requested_seeks"
_BULK_INBOXES = "_decay_stream_bulk_inboxes"
_YIELD_EVERY = 256
_IDLE_FETCH_SECONDS = 0.2


def strict_commit_gaps() -> None:
    """Make Faust's consumer refuse to commit past an offset that was never acknowledged."""
    if getattr(Consumer, _PATCHED, False):
        return
    lenient = Consumer._new_offset

    def _new_offset(self: Any, tp: Any) -> int | None:
        acked = self._acked.get(tp)
        committed = self._committed_offset.get(tp)
        if acked and committed is not None and min(acked) > committed:
            known_missing = self._gap.get(tp)
            if not (known_missing and known_missing.overlaps_point(committed)):
                return None
        result: int | None = lenient(self, tp)
        return result

    Consumer._new_offset = _new_offset  # type: ignore[method-assign]
    setattr(Consumer, _PATCHED, True)


def forget_delivery(consumer: Any, message: Any) -> None:
    """Treat a delivered message as never delivered: it is not acknowledged, ever.

    The stream's later acknowledgement becomes a no-op, so the offset stays out of the
    acknowledged set; the partition is not committed past it and the worker's offset-gap watch
    fetches it again.
    """
    message.acked = True  # Faust's ack of an already-acked message does nothing
    consumer._unacked_messages.discard(message)


def request_seek(consumer: Any, tp: Any, offset: int) -> None:
    """Ask the fetch loop to fetch `tp` again from `offset` before its next message."""
    requested: dict[Any, int] = consumer.__dict__.setdefault(_REQUESTED_SEEKS, {})
    requested[tp] = min(requested.get(tp, offset), offset)


def seeks_between_fetches() -> None:
    """Make Faust's fetch loop apply the seeks `request_seek` asked for, between two messages.

    A requested seek runs in the consumer thread once the message being delivered is done;
    the rest of the batch already fetched for that partition is dropped (it comes again from
    the new offset). An idle loop looks for requests every `_IDLE_FETCH_SECONDS`.
    """
    if getattr(Consumer, _SEEKS_PATCHED, False):
        return
    fetch = Consumer.getmany

    async def getmany(self: Any, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
        await _seek_requested(self)
        inboxes: dict[str, MessageInbox[Any]] = self.app.__dict__.get(_BULK_INBOXES, {})
        sought: set[Any] = set()  # partitions whose rest of this batch predates their seek
        diverted = 0
        async for tp, message in fetch(self, min(timeout, _IDLE_FETCH_SECONDS)):
            if _REQUESTED_SEEKS in self.__dict__:
                sought |= await _seek_requested(self)
            if tp in sought:
                continue
            inbox = inboxes.get(tp.topic)
            if inbox is None:
                yield tp, message
                continue
            await _deliver_to_inbox(self, tp, message, inbox)
            diverted += 1
            if not diverted % _YIELD_EVERY:
                await asyncio.sleep(0)  # let the batch task run

    Consumer.getmany = getmany  # type: ignore[method-assign]
    setattr(Consumer, _SEEKS_PATCHED, True)


def deliver_in_bulk(app: Any, topic: Any, inbox: MessageInbox[Any]) -> None:
    """Deliver the messages of `topic` into `inbox` instead of to a Faust stream.

    The app subscribes to the topic as if an agent read it. Whoever drains the inbox
    acknowledges each message with `acknowledge` once its effects are durable; the inbox is
    cleared where Faust clears its stream buffers (partitions revoked, flow resumed).
    """
    seeks_between_fetches()
    app.__dict__.setdefault(_BULK_INBOXES, {})[topic.get_topic_name()] = inbox
    app.topics.add(topic)
    app.flow_control.manage_queue(inbox)


def acknowledge(consumer: Any, messages: Iterable[Any]) -> None:
    """Acknowledge messages delivered in bulk (a message forgotten or acked stays as it is)."""
    message_out = consumer.app.sensors.on_message_out
    for message in messages:
        if consumer.ack(message):
            message_out(message.tp, message.offset, message)


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
    if not consumer.suspend_flow.is_set():  # else a rebalance began: fetched again after it
        consumer.track_message(message)
        inbox.put_nowait(message)
    consumer._read_offset[tp] = offset


async def _seek_requested(consumer: Any) -> set[Any]:
    """Apply the requested seeks of partitions still assigned (in the consumer thread)."""
    requested = consumer.__dict__.pop(_REQUESTED_SEEKS, None)
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
            "fetching again from %s failed (%r); the offset-gap watch will ask again",
            {f"{tp.topic}-{tp.partition}": offset for tp, offset in seeks.items()},
            exc,
        )
        return set()
    return set(seeks)
