"""Per-partition schedule of due alert times (in memory; rebuilt from the table after a restart)."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from stream_app.clock import SECONDS_PER_DAY
from stream_app.model.covariates import history_of_columns
from stream_app.schedule.levels import (
    AlertLevel,
    DecayModel,
    Heads,
    Thresholds,
    crossings_of,
    due_times_batch,
    levels_due,
)
from stream_app.schedule.outcomes import OUTCOME_DUE, next_deadline
from stream_app.state import UserState
from stream_app.state.columns import StateColumns

#: Schedule level of the earliest time a user's next alert level can fall due (its silence
#: floor): the timer that reaches it schedules the exact due times from the stored state
#: (`stream_app.worker.ticks.FloorRefiner`); it is never sent as a tick. Alert levels are
#: 1..3, a prediction's deadline `OUTCOME_DUE`.
FLOOR_DUE = -1


class DueEntry(NamedTuple):
    """A user's next level falls due at `due_seconds` in the episode that began at `episode`."""

    due_seconds: float
    user_key: bytes
    partition: int
    episode: float
    level: int


#: A heap's entry: `DueEntry`'s fields but the partition (its heap's) as a plain tuple. The
#: collector untracks tuples of numbers and bytes, so the schedule's millions of entries are
#: never scanned by it, and heap order is compared in C (bench/NOTES.md, "Garbage collection
#: in the pipeline").
HeapEntry = tuple[float, bytes, float, int]

#: Heap entries up to which `DueSchedule.compact` never walks them.
COMPACT_MIN_ENTRIES = 2048


@dataclass
class DueSchedule:
    """Min-heaps of due entries per partition with lazy invalidation.

    Only the latest episode scheduled for a user is live; older entries are dropped when they
    surface, or by `compact()` once the heaps have doubled since it last ran.
    """

    heaps: dict[int, list[HeapEntry]] = field(default_factory=dict)
    live_episode: dict[bytes, float] = field(default_factory=dict)
    #: Heap entries `compact()` left: the next compaction waits until there are twice as many.
    compacted_size: int = 0

    def replace_user(
        self, user_key: bytes, partition: int, episode: float, due: list[tuple[int, float]]
    ) -> None:
        """Schedule a user's levels for an episode, superseding anything scheduled before."""
        self.live_episode[user_key] = episode
        heap = self.heaps.setdefault(partition, [])
        for level, due_seconds in due:
            heapq.heappush(heap, (due_seconds, user_key, episode, level))

    def add_entries(
        self, user_key: bytes, partition: int, episode: float, due: list[tuple[int, float]]
    ) -> None:
        """Schedule more entries for a user's live episode (or start it, as `replace_user`)."""
        if self.live_episode.get(user_key) != episode:
            self.replace_user(user_key, partition, episode, due)
            return
        heap = self.heaps.setdefault(partition, [])
        for level, due_seconds in due:
            heapq.heappush(heap, (due_seconds, user_key, episode, level))

    def forget_user(self, user_key: bytes) -> None:
        """Nothing more is due for this user (until the next `replace_user`)."""
        self.live_episode.pop(user_key, None)

    def pop_due(self, now_seconds: float) -> list[DueEntry]:
        """Live entries due at or before `now_seconds`, removed from the schedule."""
        due: list[DueEntry] = []
        for partition, heap in self.heaps.items():
            while heap and heap[0][0] <= now_seconds:
                due_seconds, key, episode, level = heapq.heappop(heap)
                if self.live_episode.get(key) == episode:
                    due.append(DueEntry(due_seconds, key, partition, episode, level))
        return sorted(due)

    def entries(self, partition: int) -> list[DueEntry]:
        """Every entry of a partition's heap, live or stale, in no order."""
        return [DueEntry(e[0], e[1], partition, e[2], e[3]) for e in self.heaps.get(partition, [])]

    def drop_partitions(self, partitions: set[int]) -> None:
        """Forget partitions this worker no longer owns."""
        for partition in partitions:
            for entry in self.heaps.pop(partition, []):
                self.forget_user(entry[1])

    def clear(self) -> None:
        """Forget everything (before a rebuild)."""
        self.heaps.clear()
        self.live_episode.clear()
        self.compacted_size = 0

    def __len__(self) -> int:
        return sum(len(heap) for heap in self.heaps.values())

    def compact(self) -> None:
        """Drop stale entries once the heaps have doubled since the last compaction.

        A user has up to one live entry per level to come, so the heaps are never weighed
        against users (then they were always "mostly stale" and every timer tick walked all of
        them, stalling the event loop: bench/NOTES.md, attempt 10); doubling makes each walk
        pay for the entries pushed since the last one.
        """
        if len(self) <= max(2 * self.compacted_size, COMPACT_MIN_ENTRIES):
            return
        for partition, heap in self.heaps.items():
            live = [e for e in heap if self.live_episode.get(e[1]) == e[2]]
            heapq.heapify(live)
            self.heaps[partition] = live
        self.compacted_size = len(self)


def schedule_due_times(
    schedule: DueSchedule,
    users: Sequence[tuple[bytes, int, UserState]],
    decay: DecayModel,
    thresholds: Thresholds,
) -> None:
    """Replace the due times of (key, partition, state) users that have a model, all at once.

    A user's entries are the alert levels still to come and the first deadline of the open
    predictions (`OUTCOME_DUE`).
    """
    scored = [(key, partition, state) for key, partition, state in users if state.model is not None]
    due = due_times_batch([state for _, _, state in scored], decay, thresholds)
    for (key, partition, state), user_due in zip(scored, due, strict=True):
        assert state.last_event_seconds is not None
        entries = [(int(lv), t) for lv, t in user_due]
        deadline = next_deadline(state)
        if deadline is not None:
            entries.append((OUTCOME_DUE, deadline + thresholds.outcome_grace_seconds))
        schedule.replace_user(key, partition, state.last_event_seconds, entries)


def schedule_due_columns(
    schedule: DueSchedule,
    users: Sequence[tuple[bytes, int, int]],
    columns: StateColumns,
    decay: DecayModel,
    thresholds: Thresholds,
    defer_after: float | None = None,
) -> None:
    """`schedule_due_times` of (key, partition, row) users of `columns`: the heads, covariate
    history and usual gaps taken from the columns for all of them at once.

    With `defer_after`, a user whose next level's silence floor is later than it gets one
    `FLOOR_DUE` entry at that floor instead of the level's due times: no level can fall due
    before its floor, and the timer that reaches it computes them (`stream_app.worker.ticks`).
    The users who come back before their floor, most of them, never pay for the search.
    """
    model = columns.model
    scored = [u for u in users if model.versions[u[2]] is not None]
    for key, partition, row in scored:  # heads of other shapes: one at a time (they differ)
        state = columns.state(row) if row in model.odd else None
        if state is not None:
            schedule_due_times(schedule, [(key, partition, state)], decay, thresholds)
    regular = [u for u in scored if u[2] not in model.odd]
    if not regular:
        return
    rows = np.array([row for _, _, row in regular], np.int64)
    last, alert_levels = columns.last[rows], columns.alert_level[rows]
    gaps = _usual_gaps(columns, rows, thresholds)
    floors = silence_floors(last, alert_levels, gaps, thresholds)
    deferred = np.zeros(len(rows), np.bool_) if defer_after is None else floors > defer_after
    searched = np.flatnonzero(~deferred & ~np.isnan(floors))  # NaN: no level to come
    crossings = np.full((len(rows), len(AlertLevel)), np.nan)
    ratios = [thresholds.of(level) for level in AlertLevel]
    if len(searched):
        heads = _heads_of_rows(columns, rows[searched], decay)
        crossings[searched] = crossings_of(heads, len(searched), ratios)
    lasts, levels, usual = last.tolist(), alert_levels.tolist(), gaps.tolist()
    floor_times, crossing_rows = floors.tolist(), crossings.tolist()
    for i, (key, partition, row) in enumerate(regular):
        if deferred[i]:
            entries = [(FLOOR_DUE, floor_times[i])]
        else:
            due = levels_due(lasts[i], levels[i], usual[i], crossing_rows[i], thresholds)
            entries = [(int(level), t) for level, t in due]
        predictions = columns.predictions[row]
        if predictions:
            deadline = min(p.deadline_seconds for p in predictions)
            entries.append((OUTCOME_DUE, deadline + thresholds.outcome_grace_seconds))
        schedule.replace_user(key, partition, lasts[i], entries)


def silence_floors(
    last: npt.NDArray[np.float64],
    alert_levels: npt.NDArray[np.int64],
    gaps: npt.NDArray[np.float64],
    thresholds: Thresholds,
) -> npt.NDArray[np.float64]:
    """The earliest time each user's next level can fall due: the last event plus that level's
    `min_silence_gaps` of the usual gap (`levels_due` takes the later of this and the
    crossing); NaN where every level was reached."""
    floor_gaps = np.array([*thresholds.min_silence_gaps, np.nan])
    reached = np.clip(alert_levels, 0, len(AlertLevel))
    floors: npt.NDArray[np.float64] = last + floor_gaps[reached] * gaps
    return floors


def _heads_of_rows(columns: StateColumns, rows: npt.NDArray[np.int64], decay: DecayModel) -> Heads:
    model = columns.model
    own_version = [
        not decay.model_version or model.versions[row] == decay.model_version
        for row in rows.tolist()
    ]
    own = np.array(own_version, np.bool_) & (model.shapes.components == len(decay.kernel_shapes))
    history = history_of_columns(columns, rows) if decay.calibration.weights else None
    rates = (model.mu[rows], model.alpha[rows], model.beta[rows])
    return Heads(rates, own, history, decay)


def _usual_gaps(
    columns: StateColumns, rows: npt.NDArray[np.int64], thresholds: Thresholds
) -> npt.NDArray[np.float64]:
    """`usual_gap_seconds`, or the prior gap where there is none (or it is 0)."""
    events = columns.events[rows]
    first, last = columns.first[rows], columns.last[rows]
    known = (events >= 2) & ~np.isnan(first)
    usual = (last - first) / np.maximum(events - 1, 1).astype(np.float64)
    prior = thresholds.prior_gap_days * SECONDS_PER_DAY
    gaps: npt.NDArray[np.float64] = np.where(known & (usual != 0.0), usual, prior)
    return gaps
