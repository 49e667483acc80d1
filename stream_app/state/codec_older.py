"""Readers of the state formats older changelogs hold: 4 (JSON counters, packed ring, binary
model floats), 3 (the ring inside the JSON) and 2 (all JSON). The worker writes format 5
(`stream_app.state.codec`); a value of these formats is written again as format 5 on the
user's next event."""

from __future__ import annotations

import itertools
import json
import struct
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from stream_app.state.codec_rows import state_from_body
from stream_app.state.model_state import ModelState, TopBuckets
from stream_app.state.ring import PackedRing, RecentEvent, entry_of
from stream_app.state.user_state import UserState

#: b"DS", format version, float width in bytes (4 or 8), length of the JSON part (format 3).
_HEADER_V3 = struct.Struct("<2sBBI")
#: The same, then the length of the ring's frames (format 4).
_HEADER_V4 = struct.Struct("<2sBBII")

OLDER_FORMATS = (3, 4)


def decode_older_state(raw: bytes, magic: bytes) -> UserState:
    """A state of format 2, 3 or 4."""
    if raw[:1] == b"{":
        return _decode_json_v2(raw)
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
