"""Due times → ticks → alerts: rebuilding the schedule, emitting due ticks, handling a tick.

A timer pops due entries and sends them as ticks on the internal topic (timers may not write
tables); the tick task re-checks the user's state (a newer event makes the tick stale),
publishes each alert followed by the actions the policy decides for it, then records the level
reached and the action times, in that order. A tick decides at the time the timer sent it, so a
crash in between can only repeat an alert or an action, with the same id and fields, never
lose or supersede one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np

from stream_app.clock import SECONDS_PER_DAY, Clock
from stream_app.events.alert import Alert
from stream_app.events.partitioning import Partitioner, partition_for_key
from stream_app.events.tick import Tick
from stream_app.policy.records import Action
from stream_app.schedule.alerts import alerts_due
from stream_app.schedule.due_schedule import (
    FLOOR_DUE,
    DueEntry,
    DueSchedule,
    schedule_due_columns,
)
from stream_app.schedule.levels import DecayModel, Thresholds, due_times, due_times_batch
from stream_app.schedule.outcomes import OUTCOME_DUE, next_deadline, open_predictions, resolve_due
from stream_app.service.ports import SourcePosition, UserStates
from stream_app.state import UserState, decode_state, encode_state
from stream_app.state.codec_columns import decode_columns
from stream_app.worker.activation import Activation
from stream_app.worker.log_fields import position_fields
from stream_app.worker.metrics import Metrics
from stream_app.worker.serving import ServingModel

log = logging.getLogger(__name__)

#: Publishes an alert caused by the tick at the position given.
AlertSink = Callable[[Alert, SourcePosition], Awaitable[None]]
TickSink = Callable[[DueEntry, Tick], Awaitable[None]]
#: Replaces reached silence floors with exact due times in the schedule (`FloorRefiner`).
Refine = Callable[[DueSchedule, list[DueEntry]], None]


def rebuild_schedule(
    schedule: DueSchedule,
    items: Iterable[tuple[bytes, bytes | None]],
    partitions: int,
    active: set[int],
    model: ServingModel,
    thresholds: Thresholds,
    chunk_size: int = 4096,
    partitioner: Partitioner = Partitioner.MURMUR2,
) -> int:
    """Recompute every due time of the users on `active` partitions from their stored state.

    Due times are computed `chunk_size` users at a time (one vectorised root search each). The
    outcome totals are summed again from the same states.
    """
    schedule.clear()
    with_outcomes: list[tuple[int, UserState]] = []
    users = 0
    chunk: list[tuple[bytes, int, bytes]] = []
    for key, raw in items:
        partition = partition_for_key(key, partitions, partitioner)
        if raw is None or partition not in active:
            continue
        users += 1
        chunk.append((key, partition, raw))
        if len(chunk) >= chunk_size:
            with_outcomes += _schedule_chunk(schedule, chunk, model, thresholds)
            chunk.clear()
    with_outcomes += _schedule_chunk(schedule, chunk, model, thresholds)
    model.metrics.outcome_totals.rebuild(with_outcomes)
    return users


def _schedule_chunk(
    schedule: DueSchedule,
    chunk: list[tuple[bytes, int, bytes]],
    model: ServingModel,
    thresholds: Thresholds,
) -> list[tuple[int, UserState]]:
    """Schedule the (key, partition, value) users of a chunk, read as one `StateColumns`;
    returns (partition, state) of those with outcome tallies."""
    if not chunk:
        return []
    columns = decode_columns([raw for _, _, raw in chunk])
    rows = range(len(chunk))
    scored = [(key, p, row) for (key, p, _), row in zip(chunk, rows, strict=True)
              if not np.isnan(columns.last[row])]  # fmt: skip
    schedule_due_columns(schedule, scored, columns, model.decay, thresholds)
    with_outcomes = []
    for (_, partition, _), row in zip(chunk, rows, strict=True):
        state = columns.state(row) if columns.outcomes[row] else None
        if state is not None:
            with_outcomes.append((partition, state))
    return with_outcomes


@dataclass(frozen=True)
class FloorRefiner:
    """Replaces reached silence floors (`FLOOR_DUE`) with the users' exact due times, read
    from their stored state: a timer may read the table, and no tick makes the round trip."""

    store: UserStates
    decay: DecayModel
    thresholds: Thresholds

    def __call__(self, schedule: DueSchedule, floors: list[DueEntry]) -> None:
        users: list[tuple[DueEntry, UserState]] = []
        for entry in floors:
            stored = self.store.get(entry.user_key)
            state = decode_state(stored) if stored is not None else None
            if state is None or state.model is None or state.last_event_seconds != entry.episode:
                continue  # a newer event made the floor stale
            users.append((entry, state))
        due = due_times_batch([state for _, state in users], self.decay, self.thresholds)
        for (entry, _), levels in zip(users, due, strict=True):
            # The deadline of the open predictions stays scheduled beside the floor.
            entries = [(int(level), t) for level, t in levels]
            schedule.add_entries(entry.user_key, entry.partition, entry.episode, entries)


async def emit_due_ticks(
    schedule: DueSchedule,
    now_seconds: float,
    send: TickSink,
    refine: Refine | None = None,
) -> int:
    """Send a tick for every entry due by now; returns how many. Silence floors reached are
    refined first (`refine`): the exact due times replace them, and those due by now are sent
    in the same pass, as if they had been scheduled from the start."""
    entries = schedule.pop_due(now_seconds)
    sent = 0
    while entries:
        floors = [entry for entry in entries if entry.level == FLOOR_DUE]
        for entry in entries:
            if entry.level != FLOOR_DUE:
                user_id = entry.user_key.decode("utf-8")
                tick = Tick(user_id, entry.episode, entry.level, entry.due_seconds, now_seconds)
                await send(entry, tick)
                sent += 1
        if not floors or refine is None:
            break
        refine(schedule, floors)
        entries = schedule.pop_due(now_seconds)
    schedule.compact()
    return sent


@dataclass
class TickHandler:
    """Turns a tick into alerts, exactly once per level and silence episode."""

    store: UserStates
    send_alert: AlertSink
    clock: Clock
    metrics: Metrics
    model: ServingModel
    thresholds: Thresholds
    known_categories: dict[int, str]
    schedule: DueSchedule
    activation: Activation | None = None

    async def handle(self, key: bytes | None, value: bytes | None, source: SourcePosition) -> None:
        """Handle one tick; a failure is logged and the tick skipped (the schedule has it again)."""
        try:
            await self._handle(key, value, source)
        except Exception:
            self.metrics.ticks_total.labels("failed").inc()
            log.exception(
                "tick failed at %s[%d]@%d", source.topic, source.partition, source.offset,
                extra=position_fields(source.topic, source.partition, source.offset),
            )  # fmt: skip

    async def _handle(self, key: bytes | None, value: bytes | None, source: SourcePosition) -> None:
        if key is None or value is None:
            return
        tick = Tick.from_json(value)
        clock_now = self.clock.now_seconds()
        # One decision time for the alerts and their actions: the tick's, so that a tick taken
        # again after a crash (its alert published, the state not yet flushed) decides the same.
        now = clock_now if tick.sent_seconds is None else tick.sent_seconds
        stored = self.store.get(key)
        state = decode_state(stored) if stored is not None else None
        if (
            state is None
            or state.last_event_seconds != tick.episode
            or source.offset <= state.last_tick_offset
        ):
            self.metrics.ticks_total.labels("stale").inc()
            return
        # π's top buckets for the categories an alert and its actions name.
        (state,) = self.model.with_top_buckets([state])
        # Predictions whose horizon (and the grace for late events) passed in silence.
        resolved = resolve_due(state, now - self.thresholds.outcome_grace_seconds)
        alerts, reached = alerts_due(
            tick.user_id,
            resolved,
            self.model.decay,
            self.thresholds,
            now,
            self.known_categories,
        )
        if alerts:
            after = await self._alert(tick, alerts, resolved, source, now)
            after = replace(after, alert_level=reached)
            self.metrics.alert_delay_seconds.observe(max(clock_now - tick.due_seconds, 0.0))
            self.metrics.ticks_total.labels("alerted").inc()
        elif resolved is not state:
            after = resolved
            self.metrics.ticks_total.labels("resolved").inc()
        else:  # e.g. the calibration changed with a new model: schedule again
            self.metrics.ticks_total.labels("not_due").inc()
            self._schedule(key, source.partition, state, levels=True)
            return
        after = replace(after, last_tick_offset=source.offset)
        self.store[key] = encode_state(after)
        self.metrics.outcome_totals.update(source.partition, state, after)
        self._schedule(key, source.partition, after, levels=False)

    async def _alert(
        self, tick: Tick, alerts: list[Alert], state: UserState, source: SourcePosition, now: float
    ) -> UserState:
        """Publish each alert and the actions decided for it; open their predictions."""
        actions: list[list[tuple[str, bool]]] = []
        for alert in alerts:
            await self.send_alert(alert, source)
            self.metrics.alerts_total.labels(alert.level).inc()
            decided: list[Action] = []
            if self.activation is not None:
                state, decided = await self.activation.act(
                    tick.user_id, alert, state, source, now, self.known_categories
                )
            actions.append([(action.kind.value, action.control) for action in decided])
        horizon = self.model.decay.horizon_days * SECONDS_PER_DAY
        return open_predictions(state, alerts, actions, now, horizon)

    def _schedule(self, key: bytes, partition: int, state: UserState, *, levels: bool) -> None:
        """Add the user's next prediction deadline (and, with `levels`, the levels to come)."""
        assert state.last_event_seconds is not None
        entries: list[tuple[int, float]] = []
        if levels and state.model is not None:
            due = due_times(state, self.model.decay, self.thresholds)
            entries = [(int(lv), t) for lv, t in due]
        deadline = next_deadline(state)
        if deadline is not None:
            entries.append((OUTCOME_DUE, deadline + self.thresholds.outcome_grace_seconds))
        if levels:  # the levels to come replace what was scheduled
            self.schedule.replace_user(key, partition, state.last_event_seconds, entries)
        elif entries:  # the deadline joins the levels still scheduled
            self.schedule.add_entries(key, partition, state.last_event_seconds, entries)
