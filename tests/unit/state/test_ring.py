"""The packed ring: appended on its bytes, decoded only when read, equal to its entries."""

from __future__ import annotations

import json
import struct

from stream_app.events.schema import EventType
from stream_app.state.ring import PackedRing, RecentEvent, holds_event_id


def entry(k: int, event_id: str | None = None) -> RecentEvent:
    return RecentEvent(1000.0 + k, EventType.VIEW, f"item-{k}", f'c"{k}', None, event_id)


def test_appending_keeps_the_newest_entries_in_order() -> None:
    ring = PackedRing.of([])
    for k in range(7):
        ring = ring.appended(entry(k), 3)
    assert len(ring) == 3
    assert [r.item_id for r in ring] == ["item-4", "item-5", "item-6"]
    assert ring[-1] == entry(6) and ring[0:2] == (entry(4), entry(5))


def test_a_ring_read_from_bytes_equals_the_one_built_from_entries() -> None:
    built = PackedRing.of([entry(1), entry(2, "e2")])
    read = PackedRing(built.frames, 2)  # as the codec reads it: nothing decoded yet
    assert read == built == (entry(1), entry(2, "e2"))
    assert list(reversed(read)) == [entry(2, "e2"), entry(1)]
    assert hash(read) == hash(built)


def test_appending_does_not_decode_the_ring() -> None:
    read = PackedRing(PackedRing.of([entry(k) for k in range(5)]).frames, 5)
    longer = read.appended(entry(5), 5)
    assert read._decoded is None and longer._decoded is None
    assert [r.item_id for r in longer] == [f"item-{k}" for k in range(1, 6)]


def test_event_ids_are_found_on_the_bytes_without_false_answers() -> None:
    ring = PackedRing(PackedRing.of([entry(1, "a"), entry(2, 'x,"b"]'), entry(3)]).frames, 3)
    assert holds_event_id(ring, "a") and holds_event_id(ring, 'x,"b"]')
    assert not holds_event_id(ring, "b") and not holds_event_id(ring, "item-1")
    assert ring._decoded is not None  # a possible match is confirmed on the entries
    assert not PackedRing(ring.frames, 3).may_hold_event_id("c")
    assert holds_event_id((entry(1, "a"),), "a")  # a plain tuple works too


def test_non_ascii_ids_are_found_as_written_now_and_as_earlier_versions_wrote_them() -> None:
    now = PackedRing.of([entry(1, "été"), entry(2)])
    assert "été".encode() in now.frames and holds_event_id(now, "été")
    # Earlier versions wrote entries with json.dumps, non-ASCII text escaped.
    text = json.dumps([1000.0, "view", "i", None, None, "été"], separators=(",", ":")).encode()
    earlier = PackedRing(struct.pack("<H", len(text)) + text, 1)
    assert b"\\u00e9" in earlier.frames and holds_event_id(earlier, "été")
    assert earlier[0] == RecentEvent(1000.0, EventType.VIEW, "i", None, None, "été")
    assert not holds_event_id(earlier, "ete")


def test_an_entry_msgspec_cannot_encode_is_escaped_as_before() -> None:
    odd = RecentEvent(1000.0, EventType.VIEW, "\ud800", None, None, None)  # a lone surrogate
    assert PackedRing(PackedRing.of([odd]).frames, 1)[0] == odd
