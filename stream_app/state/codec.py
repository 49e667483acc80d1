"""The table value of a user: its layout (format 6), and `encode_state` / `decode_state` for one.

Format 6: a fixed record (`HEADER`: counters, times, offsets, the sizes of what follows), the
counts per event type (int64), the decayed counts (float64), the model's floats (h, c, the
head's rates, the top buckets' weights; float32 when every one is exactly a float32, as the
model's outputs are) and top-bucket ids (u16, i32 when one does not fit; padded where a
component has fewer); then the model's version, the ring of recent events as its packed frames
and compact JSON of the variable parts (action times, open predictions, outcome tallies) only
when the user has any. Everything before the version has the same size for users of one model,
so the worker reads and writes a batch as one array per field (`stream_app.state.
codec_columns`, byte-equal to these); this module does one user (ticks, tools, tests). Formats
5, 4, 3 and 2 of older changelogs are still read (`stream_app.state.codec_older`).
"""

from __future__ import annotations

import json
import struct

import numpy as np
import numpy.typing as npt

from stream_app.events.schema import EVENT_TYPES
from stream_app.state.codec_older import decode_older_state
from stream_app.state.codec_rows import action_times_of, extras_body, outcomes_of, predictions_of
from stream_app.state.columns import NO_BUCKET, ModelShapes, padded_top, unpadded_top
from stream_app.state.model_state import ModelState, top_buckets_of
from stream_app.state.outcomes import OpenPrediction, Outcomes
from stream_app.state.ring import PackedRing, ring_of
from stream_app.state.user_state import DECAYED_SIZE, UserState

STATE_FORMAT_VERSION = 6

MAGIC = b"DS"
PREFIX = MAGIC + bytes([STATE_FORMAT_VERSION])

#: The fixed record's fields and their struct codes, little-endian and packed.
_HEADER_FIELDS = (
    ("magic", "2s"), ("format", "B"), ("width", "B"), ("flags", "B"), ("events", "q"),
    ("spend", "d"), ("first", "d"), ("last", "d"), ("last_offset", "q"),
    ("last_tick_offset", "q"), ("alert_level", "b"), ("types", "B"), ("ring_entries", "H"),
    ("ring_bytes", "I"), ("text_bytes", "I"), ("version_bytes", "H"), ("hidden", "H"),
    ("cell", "H"), ("components", "H"), ("top_components", "H"), ("top_each", "H"),
)  # fmt: skip
HEADER = struct.Struct("<" + "".join(code for _, code in _HEADER_FIELDS))
_NUMPY_CODES = {"2s": "S2", "B": "u1", "b": "i1", "H": "<u2", "I": "<u4", "q": "<i8", "d": "<f8"}
#: `HEADER` as a numpy record, for a batch.
HEADER_DTYPE = np.dtype([(name, _NUMPY_CODES[code]) for name, code in _HEADER_FIELDS])
SHAPE_FIELDS = ("hidden", "cell", "components", "top_components", "top_each")

HAS_FIRST, HAS_LAST, HAS_MODEL, WIDE_IDS, HAS_DECAYED = 1, 2, 4, 8, 16
#: The flags that change the sizes of the fixed part.
LAYOUT_FLAGS = HAS_MODEL | WIDE_IDS | HAS_DECAYED
#: A padded top-bucket slot in u16 ids (`NO_BUCKET` in the columns); other ids beyond u16 are
#: written as i32.
NARROW_PAD = 0xFFFF


def fixed_sizes(width: int, flags: int, shapes: ModelShapes) -> tuple[int, int, int, int]:
    """Bytes of the type counts, decayed counts, model floats and top ids of a layout."""
    decayed = 8 * DECAYED_SIZE if flags & HAS_DECAYED else 0
    if not flags & HAS_MODEL:
        return 8 * len(EVENT_TYPES), decayed, 0, 0
    hidden, cell, components, top_components, each = shapes
    floats = hidden + cell + 3 * components + top_components * each
    ids = (4 if flags & WIDE_IDS else 2) * top_components * each
    return 8 * len(EVENT_TYPES), decayed, width * floats, ids


def extras_text(
    action_times: tuple[tuple[str, float], ...],
    predictions: tuple[OpenPrediction, ...],
    outcomes: Outcomes,
) -> bytes:
    """The JSON part: empty for a user without action times, open predictions or outcomes."""
    if not (action_times or predictions or outcomes):
        return b""
    body = extras_body(action_times, predictions, outcomes)
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def narrow_ids(ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Top ids for u16: `NO_BUCKET` written as `NARROW_PAD`."""
    return np.where(ids == NO_BUCKET, NARROW_PAD, ids)


def fits_u16(ids: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Per row (last axis), whether every id is written as u16."""
    used = ids != NO_BUCKET
    fits: npt.NDArray[np.bool_] = ~((used & ((ids < 0) | (ids >= NARROW_PAD))).any(axis=-1))
    return fits


def encode_state(state: UserState) -> bytes:
    """One user's table value (format 6, see the module docstring)."""
    ring = ring_of(state.recent)
    text = extras_text(state.action_times, state.predictions, state.outcomes)
    first, last = state.first_event_seconds, state.last_event_seconds
    flags = (first is not None) * HAS_FIRST | (last is not None) * HAS_LAST
    flags |= bool(state.decayed) * HAS_DECAYED
    parts = [b"", struct.pack(f"<{len(state.type_counts)}q", *state.type_counts)]
    if state.decayed:
        parts.append(np.asarray(state.decayed, "<f8").tobytes())
    width, version, shapes = 4, b"", ModelShapes(0, 0, 0, 0, 0)
    model = state.model
    if model is not None:
        flags |= HAS_MODEL
        top = top_buckets_of(model.top_buckets)
        shapes = ModelShapes.of(model)
        ids, weights = padded_top(top, shapes)
        floats = np.concatenate([*model.rows(), weights.reshape(-1)]).astype(np.float64)
        narrow = floats.astype("<f4")
        width = 4 if bool((narrow == floats).all()) else 8
        parts.append(narrow.tobytes() if width == 4 else floats.astype("<f8").tobytes())
        flat = ids.reshape(-1)
        if not len(flat) or (flat.min() >= 0 and flat.max() < NARROW_PAD):  # no padding
            parts.append(flat.astype("<u2").tobytes())
        elif bool(fits_u16(flat)):
            parts.append(narrow_ids(flat).astype("<u2").tobytes())
        else:
            flags |= WIDE_IDS
            parts.append(flat.astype("<i4").tobytes())
        version = model.version.encode("utf-8")
    parts[0] = HEADER.pack(
        MAGIC, STATE_FORMAT_VERSION, width, flags, state.events_total, state.spend_total,
        first or 0.0, last or 0.0, state.last_offset, state.last_tick_offset, state.alert_level,
        len(state.type_counts), len(ring), len(ring.frames), len(text), len(version), *shapes,
    )  # fmt: skip
    return b"".join((*parts, version, ring.frames, text))


def decode_state(raw: bytes) -> UserState:
    """Inverse of `encode_state`; also reads the formats of older changelogs."""
    if raw[:3] != PREFIX:
        return decode_older_state(raw, MAGIC)
    try:
        return _decode(raw)
    except (struct.error, IndexError) as exc:
        raise ValueError(f"user state truncated or malformed: {exc}") from None


def _decode(raw: bytes) -> UserState:
    (_, _, width, flags, events, spend, first, last, offset, tick_offset, alert, types, entries,
     ring_bytes, text_bytes, version_bytes, *sizes) = HEADER.unpack_from(raw)  # fmt: skip
    if width not in (4, 8) or types != len(EVENT_TYPES):
        raise ValueError(f"unknown user state layout (width {width}, {types} event types)")
    shapes = ModelShapes(*sizes)
    counts_size, decayed_size, floats_size, ids_size = fixed_sizes(width, flags, shapes)
    at = HEADER.size
    counts = struct.unpack_from(f"<{types}q", raw, at)
    at += counts_size
    decayed = np.frombuffer(raw, "<f8", DECAYED_SIZE, at).tolist() if decayed_size else []
    at += decayed_size
    model_at, at = at, at + floats_size + ids_size
    version = raw[at : at + version_bytes].decode("utf-8")
    at += version_bytes
    ring = PackedRing(raw[at : at + ring_bytes], entries)
    at += ring_bytes
    extras = json.loads(raw[at : at + text_bytes]) if text_bytes else {}
    if at + text_bytes != len(raw):
        raise ValueError("user state of the wrong length")
    model = _model_at(raw, model_at, width, flags, shapes, version) if flags & HAS_MODEL else None
    return UserState(
        events_total=events,
        type_counts=counts,
        spend_total=spend,
        first_event_seconds=first if flags & HAS_FIRST else None,
        last_event_seconds=last if flags & HAS_LAST else None,
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
    raw: bytes, at: int, width: int, flags: int, shapes: ModelShapes, version: str
) -> ModelState:
    """The model part at `at`, its floats as views of `raw`."""
    hidden, cell, components, top_components, each = shapes
    count = hidden + cell + 3 * components + top_components * each
    floats = np.frombuffer(raw, "<f4" if width == 4 else "<f8", count, at)
    wide = bool(flags & WIDE_IDS)
    ids = np.frombuffer(raw, "<i4" if wide else "<u2", top_components * each, at + width * count)
    top_ids = ids.astype(np.int64).reshape(top_components, each)
    if not wide:
        top_ids[top_ids == NARROW_PAD] = NO_BUCKET
    h, c, mu, alpha, beta, weights = _split(
        floats, (hidden, cell, components, components, components)
    )
    top = unpadded_top(top_ids, weights.reshape(top_components, each))
    return ModelState(version, h, c, mu, alpha, beta, top)


def _split(values: np.ndarray, sizes: tuple[int, ...]) -> list[np.ndarray]:
    """`values` cut into consecutive views of `sizes`, and the rest."""
    parts, at = [], 0
    for size in sizes:
        parts.append(values[at : at + size])
        at += size
    parts.append(values[at:])
    return parts
