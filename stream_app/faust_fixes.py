"""A correction to Faust's offset bookkeeping, applied once when the app is created.

Faust (faust-streaming 0.15) commits a partition up to its first gap in acknowledged offsets,
but it lets a gap of exactly one offset through: with offsets committed up to (not including)
N and N+1, N+2, ... acknowledged, it commits N+3 and the message at N, never delivered, is
lost. Here a partition commits only when its acknowledged offsets start at the committed
offset (or the missing ones are offsets Faust knows do not exist, such as transaction markers).
A partition held back this way is fetched again by the worker's offset-gap watch
(`stream_app.offset_gaps`).
"""

from __future__ import annotations

from typing import Any

from faust.transport.consumer import Consumer

_PATCHED = "_decay_stream_strict_gaps"


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
