"""The table value of a user: `encode_state` / `decode_state`, and the bound of its size.

Format 5: one fixed binary record of the counters, times, offsets and sizes; the counts per
event type; compact JSON of the variable parts (action times, open predictions, outcome
tallies) only when the user has any; the ring of recent events as its packed frames
(`stream_app.state.ring`, written as they are); the model's version, top-bucket ids and floats
as binary arrays; the decayed counts as float64. No number on the hot path goes through text.
Formats 4, 3 and 2 of older changelogs are still read (`stream_app.state.codec_older`).
"""

from __future__ import annotations

import itertools
import json
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from stream_app.events.decode import MAX_ID_CHARS
from stream_app.state.codec_older import decode_older_state
from stream_app.state.codec_rows import action_times_of, extras_body, outcomes_of, predictions_of
from stream_app.state.model_state import FloatRow, ModelState, TopBuckets, top_buckets_of
from stream_app.state.ring import PackedRing, ring_of
from stream_app.state.user_state import DECAYED_SIZE, UserState

STATE_FORMAT_VERSION = 5

_MAGIC = b"DS"

#: b"DS", format, float width (4 or 8), flags; events, spend, first and last event time, last
#: event and tick offsets, alert level; how many type counts, ring entries, ring bytes, JSON
#: bytes, decayed counts; the model's version bytes, h, c and component sizes, and how many
#: components have top buckets.
_FIXED = struct.Struct("<2sBBBqdddqqbBHIIBHHHHH")

_HAS_FIRST, _HAS_LAST, _HAS_MODEL, _WIDE_IDS = 1, 2, 4, 8

#: Top-bucket ids as u16 (no model has more category buckets), else as i32.
_NARROW_IDS = np.dtype("<u2")


def encode_state(state: UserState) -> bytes:
    """Table value bytes (format 5, see the module docstring).

    The model's floats (h, c, head rates, top-bucket weights) are one little-endian array,
    float32 when every value is exactly a float32 (always so for model outputs), float64
    otherwise; decoding gives back the very same numbers, as views of the value's bytes.
    """
    extras = extras_body(state)
    text = json.dumps(extras, separators=(",", ":")).encode("utf-8") if extras else b""
    ring = ring_of(state.recent).frames
    counts = state.type_counts
    parts = [b"", struct.pack(f"<{len(counts)}q", *counts), text, ring]
    first, last = state.first_event_seconds, state.last_event_seconds
    flags = (first is not None) * _HAS_FIRST | (last is not None) * _HAS_LAST
    width, version, sizes, top_components = 8, b"", (0, 0, 0), 0
    model = state.model
    if model is not None:
        flags |= _HAS_MODEL
        top = top_buckets_of(model.top_buckets)
        version = model.version.encode("utf-8")
        sizes = (len(model.h), len(model.c), len(model.mu))
        top_components = len(top.buckets)
        lengths = [len(component) for component in top.buckets]
        ids = _bucket_ids(top.buckets)
        flags |= _WIDE_IDS * (ids.dtype != _NARROW_IDS)
        values, width = _packed_floats([*model.rows(), top.weights])
        parts += [version, struct.pack(f"<{top_components}H", *lengths), ids.tobytes()]
        parts.append(values.tobytes())
    if state.decayed:
        parts.append(np.array(state.decayed, "<f8").tobytes())
    parts[0] = _FIXED.pack(
        _MAGIC, STATE_FORMAT_VERSION, width, flags, state.events_total, state.spend_total,
        first or 0.0, last or 0.0, state.last_offset, state.last_tick_offset,
        state.alert_level, len(counts), len(state.recent), len(ring), len(text),
        len(state.decayed), len(version), *sizes, top_components,
    )  # fmt: skip
    return b"".join(parts)


def _bucket_ids(buckets: list[list[int]]) -> np.ndarray:
    """The top-bucket ids, flat: u16 when every id fits one, i32 otherwise."""
    flat = itertools.chain.from_iterable(buckets)
    try:
        return np.fromiter(flat, _NARROW_IDS)
    except OverflowError:
        return np.fromiter(itertools.chain.from_iterable(buckets), "<i4")


def _packed_floats(rows: Sequence[FloatRow]) -> tuple[np.ndarray, int]:
    """The rows as one little-endian array and its width: float32 rows (the model's) as they
    are; other numbers as float64, narrowed to float32 when every value is exactly one."""
    arrays = [np.asarray(row) for row in rows]
    if all(a.dtype == np.float32 for a in arrays):
        return np.concatenate(arrays).astype("<f4", copy=False), 4
    values = np.concatenate([a.astype("<f8") for a in arrays])
    narrow = values.astype("<f4")
    if np.array_equal(narrow, values):  # NaN never compares equal: stays float64
        return narrow, 4
    return values, 8


def decode_state(raw: bytes) -> UserState:
    """Inverse of `encode_state`; also reads formats 4, 3 and 2 of older changelogs."""
    if raw[:1] == b"{" or raw[2:3] != bytes([STATE_FORMAT_VERSION]):
        return decode_older_state(raw, _MAGIC)
    try:
        return _decode_v5(raw)
    except (struct.error, IndexError) as exc:
        raise ValueError(f"user state truncated or malformed: {exc}") from None


def _decode_v5(raw: bytes) -> UserState:
    (magic, _, width, flags, events, spend, first, last, offset, tick_offset, alert, types,
     entries, ring_length, text_length, decayed_length, version_length, hidden, cell,
     components, top_components) = _FIXED.unpack_from(raw)  # fmt: skip
    if magic != _MAGIC or width not in (4, 8):
        raise ValueError(f"unknown user state format {magic!r}/{STATE_FORMAT_VERSION}/{width}")
    at = _FIXED.size
    counts = struct.unpack_from(f"<{types}q", raw, at)
    at += 8 * types
    extras: dict[str, Any] = json.loads(raw[at : at + text_length]) if text_length else {}
    at += text_length
    ring = PackedRing(raw[at : at + ring_length], entries)
    at += ring_length
    model = None
    if flags & _HAS_MODEL:
        wide = bool(flags & _WIDE_IDS)
        sizes = (hidden, cell, components)
        model, at = _model_at(raw, at, width, version_length, sizes, top_components, wide)
    decayed = np.frombuffer(raw, "<f8", decayed_length, at).tolist() if decayed_length else []
    if at + 8 * decayed_length != len(raw):
        raise ValueError("user state of the wrong length")
    return UserState(
        events_total=events,
        type_counts=counts,
        spend_total=spend,
        first_event_seconds=first if flags & _HAS_FIRST else None,
        last_event_seconds=last if flags & _HAS_LAST else None,
        recent=ring,
        last_offset=offset,
        model=model,
        alert_level=alert,
        last_tick_offset=tick_offset,
        action_times=action_times_of(extras),
        predictions=predictions_of(extras),
        outcomes=outcomes_of(extras.get("outc")),
        decayed=tuple(decayed),
    )


def _model_at(
    raw: bytes, at: int, width: int, version_length: int, sizes: tuple[int, int, int],
    top_components: int, wide_ids: bool,
) -> tuple[ModelState, int]:  # fmt: skip
    """The model part starting at `at`, its floats as views of `raw`; and where it ends."""
    version = raw[at : at + version_length].decode("utf-8")
    at += version_length
    lengths = struct.unpack_from(f"<{top_components}H", raw, at)
    at += 2 * top_components
    id_type = np.dtype("<i4") if wide_ids else _NARROW_IDS
    ids = np.frombuffer(raw, id_type, sum(lengths), at).tolist()
    at += id_type.itemsize * len(ids)
    hidden, cell, components = sizes
    count = hidden + cell + 3 * components + len(ids)
    floats = np.frombuffer(raw, "<f4" if width == 4 else "<f8", count, at)
    ends = list(itertools.accumulate((hidden, cell, components, components, components)))
    h, c, mu, alpha, beta = (floats[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True))
    starts = itertools.accumulate(lengths, initial=0)
    buckets = [ids[a : a + n] for a, n in zip(starts, lengths, strict=False)]
    top = TopBuckets(buckets, floats[ends[-1] :])
    return ModelState(version, h, c, mu, alpha, beta, top), at + width * count


#: Longest JSON form of a float (`-2.2250738585072014e-308`) or an int counter, in bytes.
_NUMBER_BYTES = 24


#: One id in `encode_state`: quotes plus MAX_ID_CHARS characters, each escaped by `json.dumps`
#: to at most 12 bytes (an astral character is two `\\uXXXX` escapes).
_ID_BYTES = 2 + 12 * MAX_ID_CHARS


#: One ring entry: ts, type, item, category, price, event_id, brackets and commas.
RECENT_EVENT_MAX_BYTES = 3 * _ID_BYTES + 2 * _NUMBER_BYTES + 12 + 8


#: Everything but the ring and the model: field names, counters, times, alert, action times.
_FIXED_MAX_BYTES = 1024


def state_bytes_bound(
    sequence_length: int, hidden_size: int = 0, components: int = 0, version_chars: int = 128
) -> int:
    """Upper bound of `len(encode_state(state))` for any state the worker can build.

    It does not depend on how many events the user sent: the ring keeps `sequence_length`
    entries, ids are at most `MAX_ID_CHARS` characters (`decode_event` refuses longer ones) and
    the model state has a fixed shape (`hidden_size`, `components`, a few top buckets each).
    """
    numbers = 2 * hidden_size + 3 * components + 2 * 8 * components
    model = numbers * (_NUMBER_BYTES + 1) + 12 * version_chars + 64 + 8 * DECAYED_SIZE
    ring = sequence_length * (RECENT_EVENT_MAX_BYTES + 2)  # a frame: u16 length + entry
    return ring + model + outcome_bytes_bound(version_chars) + _FIXED_MAX_BYTES


#: What bounds the outcome part of a state (`stream_app.schedule.outcomes` keeps to it).
#: One per alert level in the current silence, and as many returned ones waiting for their H.
MAX_OPEN_PREDICTIONS = 6


MAX_ALERT_TALLIES = 3 * 4 * 10  # levels × model versions kept apart × probability buckets


MAX_ACTION_TALLIES = 6  # action kinds × treated/control


_LABEL_BYTES = 2 + 32  # a level, kind or bucket name, quoted


def outcome_bytes_bound(version_chars: int = 128) -> int:
    """Upper bound of the open predictions and outcome tallies in `encode_state`."""
    version = 2 + 12 * version_chars
    prediction = _LABEL_BYTES + version + 4 * _NUMBER_BYTES + 3 * (_LABEL_BYTES + 10) + 16
    alert_tally = 2 * _LABEL_BYTES + version + 4 * _NUMBER_BYTES + 10
    action_tally = _LABEL_BYTES + 6 + 2 * _NUMBER_BYTES + 6
    return (
        MAX_OPEN_PREDICTIONS * (prediction + 1)
        + MAX_ALERT_TALLIES * (alert_tally + 1)
        + MAX_ACTION_TALLIES * (action_tally + 1)
        + 32
    )
