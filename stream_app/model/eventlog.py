"""Event logs in the canonical schema (the `Event` fields) as numpy columns.

The readers live in `stream_app.data` (one per source, shared with the worker). Kept torch-free
because `score` runs in the worker's environment. Columns are sorted by (user, time), stable
within equal times.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from stream_app.events.schema import EVENT_TYPES, EventType
from stream_app.model.features import event_type_index

CANONICAL_COLUMNS = ("user_id", "ts", "type", "item_id", "category_id", "price", "event_id")
ObjArray = npt.NDArray[np.object_]


@dataclass(frozen=True)
class EventLog:
    """Columns of N events; `event_type` indexes `EVENT_TYPES`, NaN price = unknown."""

    user_id: ObjArray
    ts_seconds: npt.NDArray[np.float64]
    event_type: npt.NDArray[np.int64]
    item_id: ObjArray
    category_id: ObjArray
    price: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.ts_seconds)

    def take(self, index: npt.NDArray[Any]) -> EventLog:
        """Rows selected by an index or boolean mask."""
        return EventLog(*(getattr(self, f)[index] for f in _FIELDS))

    def sorted(self) -> EventLog:
        """Sorted by user, then time (stable)."""
        return self.take(np.lexsort((self.ts_seconds, self.user_id.astype(str))))

    def before(self, cutoff_seconds: float) -> EventLog:
        """Events strictly before the cutoff."""
        return self.take(self.ts_seconds < cutoff_seconds)

    def between(self, start_seconds: float, end_seconds: float) -> EventLog:
        """Events in [start, end)."""
        mask = (self.ts_seconds >= start_seconds) & (self.ts_seconds < end_seconds)
        return self.take(mask)

    def user_bounds(self) -> tuple[ObjArray, npt.NDArray[np.int64]]:
        """Distinct users of a sorted log and the start offsets of their runs (+ end)."""
        if len(self) == 0:
            return np.zeros(0, object), np.zeros(1, np.int64)
        change = np.flatnonzero(self.user_id[1:] != self.user_id[:-1]) + 1
        starts = np.concatenate([[0], change, [len(self)]]).astype(np.int64)
        return self.user_id[starts[:-1]], starts


_FIELDS = ("user_id", "ts_seconds", "event_type", "item_id", "category_id", "price")


def from_rows(rows: list[tuple[str, float, EventType, str, str | None, float | None]]) -> EventLog:
    """A sorted log from (user, ts_seconds, type, item, category, price) tuples."""
    return EventLog(
        user_id=np.array([r[0] for r in rows], dtype=object),
        ts_seconds=np.array([r[1] for r in rows], np.float64),
        event_type=np.array([event_type_index(r[2]) for r in rows], np.int64),
        item_id=np.array([r[3] for r in rows], dtype=object),
        category_id=np.array(["" if r[4] is None else r[4] for r in rows], dtype=object),
        price=np.array([np.nan if r[5] is None else r[5] for r in rows], np.float64),
    ).sorted()


def parse_timestamp(value: str) -> float:
    """Unix seconds from Unix seconds or ISO 8601 (a naive ISO time is taken as UTC)."""
    try:
        return float(value)
    except ValueError:
        ts = datetime.fromisoformat(value)
        return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).timestamp()


def write_canonical_csv(log: EventLog, path: Path) -> None:
    """Write a log as canonical CSV (ts as ISO 8601 UTC)."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CANONICAL_COLUMNS)
        for i in range(len(log)):
            price = log.price[i]
            writer.writerow(
                (
                    log.user_id[i],
                    datetime.fromtimestamp(log.ts_seconds[i], tz=UTC).isoformat(),
                    EVENT_TYPES[log.event_type[i]].value,
                    log.item_id[i],
                    log.category_id[i],
                    "" if np.isnan(price) else repr(float(price)),
                    "",
                )
            )


def with_users(log: EventLog, users: ObjArray) -> EventLog:
    """Only the events of the given users."""
    return replace(log).take(np.isin(log.user_id, users))
