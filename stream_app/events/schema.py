"""The canonical event: the record on the events topic and the row of a training log.

The same fields serve the stream (JSON on Kafka) and offline training (CSV/Parquet logs), so the
model sees exactly what the worker sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    """The one event vocabulary; dataset adapters map their own codes onto it."""

    VIEW = "view"
    CLICK = "click"
    CART = "cart"
    FAV = "fav"
    PURCHASE = "purchase"
    CANCEL = "cancel"


#: Stable order of event types; model features and counters index into it.
EVENT_TYPES: tuple[EventType, ...] = tuple(EventType)


@dataclass(frozen=True, slots=True)
class Event:
    """One user interaction. `ts` is timezone-aware (UTC) event time."""

    user_id: str
    ts: datetime
    type: EventType
    item_id: str
    category_id: str | None = None
    price: float | None = None
    event_id: str | None = None

    @property
    def ts_seconds(self) -> float:
        """Event time as Unix seconds."""
        return self.ts.timestamp()

    def to_json_dict(self) -> dict[str, Any]:
        """The wire form (what producers send): `ts` as Unix seconds."""
        out: dict[str, Any] = {
            "user_id": self.user_id,
            "ts": self.ts_seconds,
            "type": self.type.value,
            "item_id": self.item_id,
        }
        if self.category_id is not None:
            out["category_id"] = self.category_id
        if self.price is not None:
            out["price"] = self.price
        if self.event_id is not None:
            out["event_id"] = self.event_id
        return out


def utc_from_seconds(seconds: float) -> datetime:
    """Unix seconds to an aware UTC datetime."""
    return datetime.fromtimestamp(seconds, tz=UTC)
