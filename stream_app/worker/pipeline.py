"""The per-batch path, independent of Faust: decode → update state → model step → schedule.

`app.py` feeds it batches of raw messages from the batch task; unit tests feed it plain dicts and
lists. Within a batch a user's events are applied in arrival order: the k-th event of every
user goes into the k-th batched model step.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from stream_app.clock import Clock
from stream_app.events.dead_letter import DeadLetter
from stream_app.events.decode import DecodeLimits, Rejected, RejectReason, decode_event
from stream_app.events.partitioning import Partitioner, partition_for_key
from stream_app.events.schema import Event
from stream_app.model.features import category_bucket, encode_events
from stream_app.model.heads import model_states, previous_event
from stream_app.schedule.due_schedule import DueSchedule, schedule_due_times
from stream_app.schedule.levels import Thresholds
from stream_app.schedule.outcomes import counts_as_return, resolve_on_return
from stream_app.service.ports import RawMessage, SourcePosition, UserStates
from stream_app.state import (
    UpdateOutcome,
    UserState,
    apply_event,
    decode_state,
    encode_state,
)
from stream_app.worker.activation import Activation
from stream_app.worker.log_fields import position_fields
from stream_app.worker.metrics import Metrics
from stream_app.worker.serving import ServingModel

log = logging.getLogger(__name__)

PROCESSING_ERROR = "processing_error"

DeadLetterSink = Callable[[DeadLetter], Awaitable[None]]

__all__ = ["EventPipeline", "RawMessage", "SourcePosition", "UserStates"]


@dataclass
class EventPipeline:
    """Handles batches of raw messages of the events topic, in partition order."""

    store: UserStates
    dead_letters: DeadLetterSink
    clock: Clock
    metrics: Metrics
    limits: DecodeLimits
    sequence_length: int
    partitions: int | None = None
    partitioner: Partitioner = Partitioner.MURMUR2
    model: ServingModel | None = None
    schedule: DueSchedule = field(default_factory=DueSchedule)
    thresholds: Thresholds = field(default_factory=Thresholds)
    known_categories: dict[int, str] = field(default_factory=dict)
    activation: Activation | None = None
    #: Called once the batch's states are in the store, before their due times are computed:
    #: the checkpoint flushes their changelog then when a flush is due, so the broker acknowledges
    #: it while the due times are computed.
    states_written: Callable[[], Awaitable[None]] | None = None

    async def handle(self, key: bytes | None, value: bytes | None, source: SourcePosition) -> None:
        """Process one message (a batch of one)."""
        await self.handle_batch([RawMessage(key, value, source)])

    async def handle_batch(self, messages: Sequence[RawMessage]) -> None:
        """Process a batch; never raises for bad input or a failure on one event."""
        try:
            await self._handle_batch(messages)
        except Exception as exc:
            if len(messages) > 1:  # find the culprit: one message at a time
                log.exception("batch of %d failed; retrying one by one", len(messages))
                for message in messages:
                    await self.handle_batch([message])
                return
            (message,) = messages
            source = message.source
            self.metrics.event_failures_total.inc()
            log.exception(
                "event failed at %s[%d]@%d", source.topic, source.partition, source.offset,
                extra=position_fields(source.topic, source.partition, source.offset),
            )  # fmt: skip
            await self._dead_letter(message, PROCESSING_ERROR, type(exc).__name__)

    async def _handle_batch(self, messages: Sequence[RawMessage]) -> None:
        now = self.clock.now_seconds()
        limits = replace(self.limits, now_seconds=now)
        queues: dict[str, list[tuple[Event, SourcePosition]]] = {}
        rejected: list[tuple[RawMessage, Rejected]] = []
        for message in messages:
            decoded = self._decode(message, limits)
            if isinstance(decoded, Rejected):
                rejected.append((message, decoded))
            else:
                queues.setdefault(decoded.user_id, []).append((decoded, message.source))
        if queues:
            await self._apply_queues(queues, now)
        # Last: if the batch fails before this, it is retried one message at a time, and a
        # letter sent already would be sent twice.
        for message, refusal in rejected:
            self.metrics.events_rejected_total.labels(refusal.reason.value).inc()
            await self._dead_letter(message, refusal.reason.value, refusal.detail)

    async def _apply_queues(
        self, queues: dict[str, list[tuple[Event, SourcePosition]]], now: float
    ) -> None:
        """Apply each user's events in order, step the model, write states, reschedule."""
        before = {user: self._load(user) for user in queues}
        states = dict(before)
        for position in range(max(len(q) for q in queues.values())):
            await self._apply_round(
                [(user, *q[position]) for user, q in queues.items() if position < len(q)], states
            )
        latest_ts = 0.0
        written: list[tuple[bytes, int, UserState]] = []
        for user, state in states.items():
            if state is None or state is before[user]:
                continue
            partition = queues[user][-1][1].partition
            if (
                self.activation is not None
                and state.events_total != (before[user] or UserState()).events_total
            ):
                state, _ = await self.activation.act(
                    user, None, state, queues[user][-1][1], now, self.known_categories
                )
            key = user.encode("utf-8")
            self.store[key] = encode_state(state)
            self.metrics.outcome_totals.update(partition, before[user], state)
            written.append((key, partition, state))
            latest_ts = max(latest_ts, state.last_event_seconds or 0.0)
        if self.states_written is not None:
            await self.states_written()
        self._reschedule(written)
        if latest_ts:
            self.metrics.event_time_lag_seconds.set(max(now - latest_ts, 0.0))

    def _decode(self, message: RawMessage, limits: DecodeLimits) -> Event | Rejected:
        decoded = decode_event(message.key, message.value, limits)
        if isinstance(decoded, Event) and self.partitions and message.key is not None:
            expected = partition_for_key(message.key, self.partitions, self.partitioner)
            if expected != message.source.partition:
                return Rejected(
                    RejectReason.WRONG_PARTITION,
                    f"key hashes to partition {expected} by {self.partitioner.value}, message is on"
                    f" {message.source.partition} (DECAY_PRODUCER_PARTITIONER names the producers'"
                    " partitioner)",
                )
        return decoded

    def _load(self, user: str) -> UserState | None:
        stored = self.store.get(user.encode("utf-8"))
        return decode_state(stored) if stored is not None else None

    async def _apply_round(
        self, items: list[tuple[str, Event, SourcePosition]], states: dict[str, UserState | None]
    ) -> None:
        """Apply one event per user, then step the model once for all users whose event counted."""
        stepped: list[tuple[str, Event, UserState | None]] = []
        for user, event, source in items:
            previous = states[user]
            updated, outcome = apply_event(previous, event, source.offset, self.sequence_length)
            if outcome is UpdateOutcome.APPLIED and counts_as_return(event.type):
                updated = resolve_on_return(updated, event.ts_seconds)
            states[user] = updated
            if outcome is UpdateOutcome.APPLIED:
                self.metrics.events_consumed_total.labels(event.type.value).inc()
                stepped.append((user, event, previous))
                if event.category_id:
                    self.known_categories[category_bucket(event.category_id)] = event.category_id
            else:
                self.metrics.events_duplicate_total.labels(outcome.value).inc()
        if stepped and self.model is not None and self.model.runtime is not None:
            await self._step_model(stepped, states)

    async def _step_model(
        self,
        stepped: list[tuple[str, Event, UserState | None]],
        states: dict[str, UserState | None],
    ) -> None:
        model = self.model
        assert model is not None
        h, c = self._initial_states(model, [previous for _, _, previous in stepped])
        encoded = encode_events(
            [event for _, event, _ in stepped],
            [previous_event(previous) for _, _, previous in stepped],
        )
        out = await model.step(encoded, h, c)
        for (user, _, _), head in zip(stepped, model_states(model.version, out), strict=True):
            state = states[user]
            assert state is not None
            states[user] = state.with_model(head)

    def _initial_states(
        self, model: ServingModel, previous: list[UserState | None]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Stored (h, c) per user; zeros for new users and for states of another model version."""
        h = np.zeros((len(previous), model.hidden_size), np.float32)
        c = np.zeros_like(h)
        for row, state in enumerate(previous):
            if (
                state is not None
                and state.model is not None
                and state.model.version == model.version
            ):
                h[row] = state.model.h
                c[row] = state.model.c
        return h, c

    def _reschedule(self, written: list[tuple[bytes, int, UserState]]) -> None:
        """Due times of every user written by the batch, computed together."""
        if self.model is None or self.model.runtime is None:
            return
        schedule_due_times(self.schedule, written, self.model.decay, self.thresholds)

    async def _dead_letter(self, message: RawMessage, reason: str, detail: str) -> None:
        source = message.source
        letter = DeadLetter(
            key=message.key,
            value=message.value,
            reason=reason,
            detail=detail,
            source_topic=source.topic,
            source_partition=source.partition,
            source_offset=source.offset,
            rejected_at_seconds=self.clock.now_seconds(),
        )
        await self.dead_letters(letter)
        self.metrics.dead_letter_messages_total.inc()
