"""Corrections to Faust's offset bookkeeping, applied once when the app is created.

Commits: Faust (faust-streaming 0.15) commits a partition up to its first gap in acknowledged
offsets, but it lets a gap of exactly one offset through: with offsets committed up to (not
including) N and N+1, N+2, ... acknowledged, it commits N+3 and the message at N, never
delivered, is lost. Here a partition commits only when its acknowledged offsets start at the
committed offset (or the missing ones are offsets Faust knows do not exist, such as
transaction markers). A partition held back this way is fetched again by the worker's
offset-gap watch (`stream_app.offset_gaps`).

Seeks: `Consumer.seek` called while Faust's fetch loop is delivering a batch does not take:
the loop records the batch's offsets as read after the seek, and then drops the messages the
seek fetches again as already read (and the seek itself reaches into the consumer thread's
client from the wrong thread). `request_seek` instead hands the seek to the fetch loop, which
applies it in the consumer thread between two messages.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from faust.transport.consumer import Consumer

log = logging.getLogger(__name__)

_PATCHED = "_decay_stream_strict_gaps"
_SEEKS_PATCHED = "_decay_stream_seeks_between_fetches"
_REQUESTED_SEEKS = "_decay_stream_requested_seeks"
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
        sought: set[Any] = set()  # partitions whose rest of this batch predates their seek
        async for tp, message in fetch(self, min(timeout, _IDLE_FETCH_SECONDS)):
            if _REQUESTED_SEEKS in self.__dict__:
                sought |= await _seek_requested(self)
            if tp not in sought:
                yield tp, message

    Consumer.getmany = getmany  # type: ignore[method-assign]
    setattr(Consumer, _SEEKS_PATCHED, True)


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
