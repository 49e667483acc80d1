"""The per-batch path, independent of Faust: decode → update state → model step → schedule.

The service's batch loop feeds it batches of raw messages; unit tests feed it plain dicts and
lists. The batch's users are the rows of one `StateColumns` (decoded together, written back
together); within a batch a user's events are applied in arrival order: the k-th event of
every user is one round, applied to whole columns and stepped through the model together.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from stream_app.clock import Clock
from stream_app.events.dead_letter import DeadLetter
from stream_app.events.decode import DecodeLimits, Rejected, RejectReason, decode_event
from stream_app.events.partitioning import Partitioner, partition_for_key
from stream_app.events.schema import Event
from stream_app.model.features import (
    category_bucket,
)
from stream_app.schedule.due_schedule import DueSchedule, schedule_due_columns
from stream_app.schedule.levels import Thresholds
from stream_app.schedule.outcomes import counts_as_return, resolve_on_return
from stream_app.service.ports import RawMessage, SourcePosition, UserStates
from stream_app.state import UpdateOutcome, UserState
from stream_app.state.apply_columns import RoundApplied, apply_round
from stream_app.state.codec_columns import decode_columns, encode_columns
from stream_app.state.columns import ModelShapes, StateColumns
from stream_app.worker.activation import Activation
from stream_app.worker.log_fields import position_fields
from stream_app.worker.metrics import Metrics
from stream_app.worker.round_inputs import round_inputs, stored_recurrent_states
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
    #: The model state's shapes, once a step gave them: the columns of every batch after.
    _shapes: ModelShapes | None = field(default=None, init=False)

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
        """Apply each user's events in order, step the model, write states, reschedule: the
        batch's users are rows of one `StateColumns`, each round one event of every user."""
        users = list(queues)
        keys = [user.encode("utf-8") for user in users]
        columns = decode_columns([self.store.get(key) for key in keys], self._shapes)
        outcomes_before, events_before = list(columns.outcomes), columns.events.copy()
        changed = np.zeros(len(users), np.bool_)
        items = list(queues.values())
        for position in range(max(len(q) for q in items)):
            rows = np.array([i for i, q in enumerate(items) if position < len(q)], np.int64)
            round_items = [items[i][position] for i in rows.tolist()]
            await self._apply_round(columns, rows, round_items, changed)
        written = np.flatnonzero(changed)
        sources = [items[i][-1][1] for i in written.tolist()]
        if self.activation is not None:
            acting = [(row, source) for row, source in zip(written.tolist(), sources, strict=True)
                      if columns.events[row] != events_before[row]]  # fmt: skip
            await self._act(users, columns, acting, now)
        for row, value in zip(written.tolist(), encode_columns(columns, written), strict=True):
            self.store[keys[row]] = value
        for row, source in zip(written.tolist(), sources, strict=True):
            if columns.outcomes[row] is not outcomes_before[row]:
                self.metrics.outcome_totals.update_outcomes(
                    source.partition, outcomes_before[row], columns.outcomes[row]
                )
        if self.states_written is not None:
            await self.states_written()
        if self.model is not None and self.model.runtime is not None:
            done = written.tolist()
            scheduled = [(keys[r], s.partition, r) for r, s in zip(done, sources, strict=True)]
            schedule_due_columns(
                self.schedule, scheduled, columns, self.model.decay, self.thresholds, now
            )
        if len(written):
            latest_ts = float(np.nanmax(columns.last[written]))
            self.metrics.event_time_lag_seconds.set(max(now - latest_ts, 0.0))

    async def _act(
        self,
        users: list[str],
        columns: StateColumns,
        acting: list[tuple[int, SourcePosition]],
        now: float,
    ) -> None:
        """The activation policy on users' new events (an interest shift). A user whose ring is
        too short for one is not read; the others' states get π's top buckets in one run."""
        activation = self.activation
        assert activation is not None
        read: list[tuple[int, SourcePosition]] = []
        for row, source in acting:
            if activation.may_shift(len(columns.rings[row])):
                read.append((row, source))
            else:
                activation.open_budget(source.partition, now)
        states = [_present(columns.state(row)) for row, _ in read]
        if self.model is not None and self.model.runtime is not None:
            states = self.model.with_top_buckets(states)
        for (row, source), state in zip(read, states, strict=True):
            acted, _ = await activation.act(users[row], None, state, source, now,
                                            self.known_categories)  # fmt: skip
            if acted is not state:
                columns.set(row, acted)

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

    async def _apply_round(
        self,
        columns: StateColumns,
        rows: npt.NDArray[np.int64],
        items: list[tuple[Event, SourcePosition]],
        changed: npt.NDArray[np.bool_],
    ) -> None:
        """Apply one event per user, then step the model once for all users whose event counted."""
        events = [event for event, _ in items]
        offsets = np.array([source.offset for _, source in items], np.int64)
        done = apply_round(columns, rows, events, offsets, self.sequence_length)
        changed[rows[[o is not UpdateOutcome.DUPLICATE_OFFSET for o in done.outcomes]]] = True
        applied_rows = rows[done.applied]
        applied: list[Event] = []
        for event, outcome in zip(events, done.outcomes, strict=True):
            if outcome is UpdateOutcome.APPLIED:
                applied.append(event)
            else:
                self.metrics.events_duplicate_total.labels(outcome.value).inc()
        for kind, count in Counter(event.type.value for event in applied).items():
            self.metrics.events_consumed_total.labels(kind).inc(count)
        for row, event in zip(applied_rows.tolist(), applied, strict=True):
            if event.category_id:
                self.known_categories[category_bucket(event.category_id)] = event.category_id
            if columns.predictions[row] and counts_as_return(event.type):
                self._resolve_on_return(columns, row, event.ts_seconds)
        if applied and self.model is not None and self.model.runtime is not None:
            await self._step_model(columns, applied_rows, applied, done)

    @staticmethod
    def _resolve_on_return(columns: StateColumns, row: int, ts_seconds: float) -> None:
        state = columns.state(row)
        assert state is not None
        resolved = resolve_on_return(state, ts_seconds)
        columns.predictions[row], columns.outcomes[row] = resolved.predictions, resolved.outcomes

    async def _step_model(
        self,
        columns: StateColumns,
        rows: npt.NDArray[np.int64],
        events: list[Event],
        done: RoundApplied,
    ) -> None:
        model = self.model
        assert model is not None
        h, c = stored_recurrent_states(model, columns, rows)
        out = await model.step(round_inputs(events, done), h, c)
        shapes = ModelShapes(out.h.shape[1], out.c.shape[1], out.mu.shape[1], 0, 0)  # no π
        heads = columns.model
        if heads.shapes != shapes:  # the first batch of users without this model's state
            heads = columns.model = heads.reshaped(shapes)
            self._shapes = shapes
        for row in rows.tolist():
            heads.versions[row] = model.version
            heads.odd.pop(row, None)
        heads.h[rows], heads.c[rows] = out.h, out.c
        heads.mu[rows], heads.alpha[rows], heads.beta[rows] = out.mu, out.alpha, out.beta

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


def _present(state: UserState | None) -> UserState:
    """A written row's state (it has one)."""
    assert state is not None
    return state
