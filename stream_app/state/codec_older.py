"""Readers of the state formats older changelogs hold: 5 (a binary record, then the variable
parts before the model's arrays), 4 (JSON counters, packed ring, binary model floats), 3 (the
ring inside the JSON) and 2 (all JSON). The worker writes format 6 (`stream_app.state.codec`);
a value of these formats is written again as format 6 on the user's next event."""

from __future__ import annotations

import itertools
import json
import struct
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from stream_app.state.codec_rows import (
    action_times_of,
    outcomes_of,
    predictions_of,
    state_from_body,
)
from stream_app.state.model_state import ModelState, TopBuckets
from stream_app.state.ring import PackedRing, RecentEvent, entry_of
from stream_app.state.user_state import UserState

#: b"DS", format version, float width in bytes (4 or 8), length of the JSON part (format 3).
_HEADER_V3 = struct.Struct("<2sBBI")
#: The same, then the length of the ring's frames (format 4).
_HEADER_V4 = struct.Struct("<2sBBII")

OLDER_FORMATS = (3, 4)

#: Format 5: b"DS", format, float width (4 or 8), flags; events, spend, first and last event
#: time, last event and tick offsets, alert level; how many type counts, ring entries, ring
#: bytes, JSON bytes, decayed counts; the model's version bytes, h, c and component sizes, and
#: how many components have top buckets.
_FIXED_V5 = struct.Struct("<2sBBBqdddqqbBHIIBHHHHH")

_HAS_FIRST, _HAS_LAST, _HAS_MODEL, _WIDE_IDS = 1, 2, 4, 8


def decode_older_state(raw: bytes, magic: bytes) -> UserState:
    """A state of format 2, 3, 4 or 5."""
    if raw[:1] == b"{":
        return _decode_json_v2(raw)
    if raw[2:3] == b"\x05":
        try:
            return _decode_v5(raw, magic)
        except (struct.error, IndexError) as exc:
            raise ValueError(f"user state truncated or malformed: {exc}") from None
    if len(raw) < _HEADER_V3.size:
        raise ValueError("user state too short")
    found, version, width, length = _HEADER_V3.unpack_from(raw)
    if found != magic or version not in OLDER_FORMATS or width not in (4, 8):
        raise ValueError(f"unknown user state format {found!r}/{version}/{width}")
    if version == 3:
        start, ring_length = _HEADER_V3.size, 0
    else:
        start, ring_length = _HEADER_V4.size, _HEADER_V4.unpack_from(raw)[4]
    body = json.loads(raw[start : start + length])
    ring_start = start + length
    recent: Sequence[RecentEvent]
    if version == 3:
        recent = tuple(entry_of(row) for row in body["recent"])
    else:
        recent = PackedRing(raw[ring_start : ring_start + ring_length], body["nrec"])
    end = len(raw) - 8 * int(body.get("dec", 0))
    floats = np.frombuffer(raw[ring_start + ring_length : end], "<f4" if width == 4 else "<f8")
    model = _model_from_floats(body.get("model"), floats)
    state = state_from_body(body, model, recent)
    if end < len(raw):
        state = replace(state, decayed=tuple(np.frombuffer(raw, "<f8", offset=end).tolist()))
    return state


def _model_from_floats(body: dict[str, Any] | None, floats: np.ndarray) -> ModelState | None:
    """The model part as views of the value's float array."""
    if body is None:
        return None
    hidden, cell, components = body["sizes"]
    ends = list(itertools.accumulate((hidden, cell, components, components, components)))
    h, c, mu, alpha, beta = (floats[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True))
    top = TopBuckets(body["top"], floats[ends[-1] :])
    return ModelState(version=body["v"], h=h, c=c, mu=mu, alpha=alpha, beta=beta, top_buckets=top)


def _decode_json_v2(raw: bytes) -> UserState:
    """The JSON format 2 (every float as text), written before format 3."""
    body = json.loads(raw)
    if body.get("v") != 2:
        raise ValueError(f"unknown user state format {body.get('v')!r}")
    recent = tuple(entry_of(row) for row in body["recent"])
    return state_from_body(body, _decode_model_v2(body["model"]), recent)


def _decode_model_v2(body: dict[str, Any] | None) -> ModelState | None:
    if body is None:
        return None
    return ModelState(
        version=body["v"],
        h=tuple(body["h"]),
        c=tuple(body["c"]),
        mu=tuple(body["mu"]),
        alpha=tuple(body["alpha"]),
        beta=tuple(body["beta"]),
        top_buckets=tuple(tuple((int(b), float(w)) for b, w in comp) for comp in body["top"]),
    )


def _decode_v5(raw: bytes, expected_magic: bytes) -> UserState:
    (magic, _, width, flags, events, spend, first, last, offset, tick_offset, alert, types,
     entries, ring_length, text_length, decayed_length, version_length, hidden, cell,
     components, top_components) = _FIXED_V5.unpack_from(raw)  # fmt: skip
    if magic != expected_magic or width not in (4, 8):
        raise ValueError(f"unknown user state format {magic!r}/5/{width}")
    at = _FIXED_V5.size
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
    id_type = np.dtype("<i4") if wide_ids else np.dtype("<u2")
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
