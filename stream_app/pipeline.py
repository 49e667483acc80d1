"""The per-event path, independent of Faust: decode → update state → (dead-letter on failure).

`app.py` feeds it from the agent; unit tests feed it plain dicts and lists.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Protocol

from stream_app.clock import Clock
from stream_app.events.dead_letter import DeadLetter
from stream_app.events.decode import DecodeLimits, Rejected, decode_event
from stream_app.metrics import Metrics
from stream_app.state import UpdateOutcome, apply_event, decode_state, encode_state

log = logging.getLogger(__name__)

PROCESSING_ERROR = "processing_error"

DeadLetterSink = Callable[[DeadLetter], Awaitable[None]]


class StateStore(Protocol):
    """The slice of a Faust table the pipeline uses (a dict works too)."""

    def get(self, key: bytes) -> bytes | None:
        """Stored value or None."""
        ...

    def __setitem__(self, key: bytes, value: bytes) -> None:
        """Store (and, for a table, write the changelog)."""
        ...


@dataclass(frozen=True, slots=True)
class SourcePosition:
    """Where a message came from."""

    topic: str
    partition: int
    offset: int


@dataclass
class EventPipeline:
    """Handles one raw message of the events topic at a time, in partition order."""

    store: StateStore
    dead_letters: DeadLetterSink
    clock: Clock
    metrics: Metrics
    limits: DecodeLimits
    sequence_length: int

    async def handle(self, key: bytes | None, value: bytes | None, source: SourcePosition) -> None:
        """Process one message; never raises for bad input or a failure on one event."""
        try:
            await self._handle(key, value, source)
        except Exception as exc:
            self.metrics.event_failures_total.inc()
            log.exception(
                "event failed at %s[%d]@%d", source.topic, source.partition, source.offset
            )
            await self._dead_letter(key, value, PROCESSING_ERROR, type(exc).__name__, source)

    async def _handle(self, key: bytes | None, value: bytes | None, source: SourcePosition) -> None:
        limits = replace(self.limits, now_seconds=self.clock.now_seconds())
        decoded = decode_event(key, value, limits)
        if isinstance(decoded, Rejected):
            self.metrics.events_rejected_total.labels(decoded.reason.value).inc()
            await self._dead_letter(key, value, decoded.reason.value, decoded.detail, source)
            return
        user_key = decoded.user_id.encode("utf-8")
        stored = self.store.get(user_key)
        state = decode_state(stored) if stored is not None else None
        new_state, outcome = apply_event(state, decoded, source.offset, self.sequence_length)
        if outcome is UpdateOutcome.APPLIED:
            self.metrics.events_consumed_total.labels(decoded.type.value).inc()
        else:
            self.metrics.events_duplicate_total.labels(outcome.value).inc()
        if new_state is not state:
            self.store[user_key] = encode_state(new_state)

    async def _dead_letter(
        self,
        key: bytes | None,
        value: bytes | None,
        reason: str,
        detail: str,
        source: SourcePosition,
    ) -> None:
        letter = DeadLetter(
            key=key,
            value=value,
            reason=reason,
            detail=detail,
            source_topic=source.topic,
            source_partition=source.partition,
            source_offset=source.offset,
            rejected_at_seconds=self.clock.now_seconds(),
        )
        await self.dead_letters(letter)
        self.metrics.dead_letter_messages_total.inc()
