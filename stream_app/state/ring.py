"""The ring of a user's recent events as packed bytes, decoded only when it is read.

Each entry is one frame: a little-endian u16 length, then the entry as compact JSON
(`[ts, type, item, category, price, event_id]`, the entry format of state format 3). Appending
an event adds one frame and drops the oldest ones past the ring's length without decoding
the others, and the state codec writes the frames as they are: an event costs one entry's
encoding, not the ring's. Reading the entries (an alert's top categories, an action's items,
the interest-migration check) decodes all of them once.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

import msgspec

from stream_app.events.schema import Event, EventType

_LENGTH = struct.Struct("<H")
#: Compact JSON, ten times faster than `json.dumps` per entry; it writes non-ASCII text as
#: UTF-8 where `json.dumps` (the encoder of earlier versions, still the fallback) escapes it.
_ENCODE = msgspec.json.Encoder().encode


def compact_json(value: object) -> bytes:
    """`value` as compact JSON; text msgspec cannot encode (a lone surrogate, which the
    decoder refuses in events) is escaped as `json.dumps` does."""
    try:
        return _ENCODE(value)
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True, slots=True)
class RecentEvent:
    """One entry of the per-user ring of recent events."""

    ts_seconds: float
    type: EventType
    item_id: str
    category_id: str | None = None
    price: float | None = None
    event_id: str | None = None

    @classmethod
    def of(cls, event: Event) -> RecentEvent:
        """The ring entry for an event."""
        return cls(
            event.ts_seconds,
            event.type,
            event.item_id,
            event.category_id,
            event.price,
            event.event_id,
        )

    def to_json(self) -> bytes:
        """The entry as compact JSON."""
        row = [self.ts_seconds, self.type.value, self.item_id, self.category_id, self.price,
               self.event_id]  # fmt: skip
        return compact_json(row)


def entry_of(row: list[Any]) -> RecentEvent:
    """An entry from its decoded JSON row."""
    ts, kind, item, category, price, event_id = row
    return RecentEvent(ts, EventType(kind), item, category, price, event_id)


def frame(entry: RecentEvent) -> bytes:
    """One entry's frame."""
    text = entry.to_json()
    return _LENGTH.pack(len(text)) + text


class PackedRing(Sequence[RecentEvent]):
    """An immutable ring of recent events over packed frames (see the module docstring)."""

    __slots__ = ("_count", "_decoded", "frames")

    def __init__(self, frames: bytes, count: int, decoded: tuple[RecentEvent, ...] | None = None):
        self.frames = frames
        self._count = count
        self._decoded = decoded

    @classmethod
    def of(cls, entries: Iterable[RecentEvent]) -> PackedRing:
        """A ring holding `entries`, oldest first."""
        if isinstance(entries, PackedRing):
            return entries
        decoded = tuple(entries)
        return cls(b"".join(frame(e) for e in decoded), len(decoded), decoded)

    def appended(self, entry: RecentEvent, limit: int) -> PackedRing:
        """The ring with `entry` last, keeping the newest `limit` entries."""
        frames, count = self.frames + frame(entry), self._count + 1
        start = 0
        while count > limit:
            (length,) = _LENGTH.unpack_from(frames, start)
            start += 2 + length
            count -= 1
        decoded = None if self._decoded is None else (*self._decoded, entry)[-limit:]
        return PackedRing(frames[start:], count, decoded)

    def may_hold_event_id(self, event_id: str) -> bool:
        """False when no entry has this `event_id` (decided on the bytes); True when one may.

        A non-ASCII id is looked for as written now and as earlier versions wrote it (escaped).
        """
        frames = self.frames
        if b"," + compact_json(event_id) + b"]" in frames:
            return True
        return not event_id.isascii() and (
            b"," + json.dumps(event_id).encode("ascii") + b"]" in frames
        )

    def entries(self) -> tuple[RecentEvent, ...]:
        """Every entry, oldest first (decoded once)."""
        if self._decoded is None:
            rows: list[list[Any]] = json.loads(b"[" + b",".join(self._texts()) + b"]")
            self._decoded = tuple(entry_of(row) for row in rows)
        return self._decoded

    def _texts(self) -> Iterator[bytes]:
        frames, start = self.frames, 0
        while start < len(frames):
            (length,) = _LENGTH.unpack_from(frames, start)
            yield frames[start + 2 : start + 2 + length]
            start += 2 + length

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> RecentEvent: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[RecentEvent, ...]: ...

    def __getitem__(self, index: int | slice) -> RecentEvent | tuple[RecentEvent, ...]:
        return self.entries()[index]

    def __iter__(self) -> Iterator[RecentEvent]:
        return iter(self.entries())

    def __reversed__(self) -> Iterator[RecentEvent]:
        return reversed(self.entries())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PackedRing) and self.frames == other.frames:
            return True
        if isinstance(other, Sequence):
            return self.entries() == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.entries())

    def __repr__(self) -> str:
        return f"PackedRing({list(self.entries())!r})"


def ring_of(entries: Sequence[RecentEvent]) -> PackedRing:
    """The entries as a packed ring (a ring is returned as it is)."""
    return PackedRing.of(entries)


def holds_event_id(entries: Sequence[RecentEvent], event_id: str) -> bool:
    """True if an entry has this `event_id` (a packed ring is searched on its bytes first)."""
    if isinstance(entries, PackedRing) and not entries.may_hold_event_id(event_id):
        return False
    return any(r.event_id == event_id for r in entries)
