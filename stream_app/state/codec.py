"""The table value of a user: `encode_state` / `decode_state`, and the bound of its size.

Format 4: a header, compact JSON of the counters and the outcomes, the ring of recent events as
its packed frames (`stream_app.state.ring`, written as they are), the model's floats as one
binary array, then the decayed counts as float64. Formats 3 (the ring inside the JSON) and 2
(all JSON) of older changelogs are still read.
"""

from __future__ import annotations

import itertools
import json
import struct
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from stream_app.events.decode import MAX_ID_CHARS
from stream_app.state.model_state import FloatRow, TopBuckets, top_buckets_of
from stream_app.state.outcomes import (
    ActionTallyKey,
    AlertTally,
    AlertTallyKey,
    OpenPrediction,
    Outcomes,
)
from stream_app.state.ring import PackedRing, RecentEvent, entry_of, ring_of
from stream_app.state.user_state import DECAYED_SIZE, ModelState, UserState

STATE_FORMAT_VERSION = 4


#: b"DS", format version, float width in bytes (4 or 8), length of the JSON part (format 3).
_HEADER_V3 = struct.Struct("<2sBBI")
#: The same, then the length of the ring's frames (format 4).
_HEADER = struct.Struct("<2sBBII")


_MAGIC = b"DS"


def encode_state(state: UserState) -> bytes:
    """Table value bytes: a header, compact JSON of the counters and the ring, binary floats.

    The model's floats (h, c, head rates, top-bucket weights) are written as one little-endian
    array, float32 when every value is exactly a float32 (always so for model outputs), float64
    otherwise; decoding gives back the very same numbers, as views of the value's bytes. JSON float formatting was the
    largest single cost of a table write.
    """
    body: dict[str, Any] = {
        "n": state.events_total,
        "types": list(state.type_counts),
        "spend": state.spend_total,
        "first": state.first_event_seconds,
        "last": state.last_event_seconds,
        "off": state.last_offset,
        "tick_off": state.last_tick_offset,
        "alert": state.alert_level,
        "acts": dict(state.action_times),
        "nrec": len(state.recent),
    }
    if state.predictions:
        body["pred"] = [_prediction_row(p) for p in state.predictions]
    if state.outcomes:
        body["outc"] = _outcome_rows(state.outcomes)
    floats = b""
    width = 8
    model = state.model
    if model is not None:
        top = top_buckets_of(model.top_buckets)
        body["model"] = {
            "v": model.version,
            "sizes": [len(model.h), len(model.c), len(model.mu)],
            "top": top.buckets,
        }
        values, width = _packed_floats([*model.rows(), top.weights])
        floats = values.tobytes()
    if state.decayed:  # float64 after the model's floats (a reader that predates it skips them)
        body["dec"] = len(state.decayed)
        floats += np.array(state.decayed, "<f8").tobytes()
    text = json.dumps(body, separators=(",", ":")).encode("utf-8")
    ring = ring_of(state.recent).frames
    header = _HEADER.pack(_MAGIC, STATE_FORMAT_VERSION, width, len(text), len(ring))
    return header + text + ring + floats


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
    """Inverse of `encode_state`; also reads formats 3 and 2 of older changelogs."""
    if raw[:1] == b"{":
        return _decode_json_v2(raw)
    if len(raw) < _HEADER_V3.size:
        raise ValueError("user state too short")
    magic, version, width, length = _HEADER_V3.unpack_from(raw)
    if magic != _MAGIC or version not in (3, STATE_FORMAT_VERSION) or width not in (4, 8):
        raise ValueError(f"unknown user state format {magic!r}/{version}/{width}")
    if version == 3:
        start, ring_length = _HEADER_V3.size, 0
    else:
        start, ring_length = _HEADER.size, _HEADER.unpack_from(raw)[4]
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
    state = _state_from_body(body, model, recent)
    if end < len(raw):
        state = replace(state, decayed=tuple(np.frombuffer(raw, "<f8", offset=end).tolist()))
    return state


def _model_from_floats(body: dict[str, Any] | None, floats: np.ndarray) -> ModelState | None:
    """The model part as views of the value's float array (no float object per number)."""
    if body is None:
        return None
    hidden, cell, components = body["sizes"]
    ends = list(itertools.accumulate((hidden, cell, components, components, components)))
    h, c, mu, alpha, beta = (floats[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True))
    top = TopBuckets(body["top"], floats[ends[-1] :])
    return ModelState(version=body["v"], h=h, c=c, mu=mu, alpha=alpha, beta=beta, top_buckets=top)


def _state_from_body(
    body: dict[str, Any], model: ModelState | None, recent: Sequence[RecentEvent]
) -> UserState:
    return UserState(
        events_total=body["n"],
        type_counts=tuple(body["types"]),
        spend_total=body["spend"],
        first_event_seconds=body["first"],
        last_event_seconds=body["last"],
        last_offset=body["off"],
        last_tick_offset=body["tick_off"],
        alert_level=body["alert"],
        action_times=tuple(sorted((str(k), float(v)) for k, v in body.get("acts", {}).items())),
        model=model,
        recent=recent,
        predictions=tuple(_prediction_of(row) for row in body.get("pred", ())),
        outcomes=_outcomes_of(body.get("outc")),
    )


def _prediction_row(p: OpenPrediction) -> list[Any]:
    return [
        p.level,
        p.probability,
        p.model_version,
        p.emitted_seconds,
        p.deadline_seconds,
        [[kind, control] for kind, control in p.actions],
        *(() if p.returned_seconds is None else (p.returned_seconds,)),
    ]


def _prediction_of(row: list[Any]) -> OpenPrediction:
    level, probability, version, emitted, deadline, actions, *returned = row
    kinds = tuple((k, bool(c)) for k, c in actions)
    return OpenPrediction(level, probability, version, emitted, deadline, kinds, *returned)


def _outcome_rows(outcomes: Outcomes) -> dict[str, list[list[Any]]]:
    return {
        "a": [
            [k.level, k.model_version, k.probability_bucket, v.predictions, v.returned,
             v.probability_sum, v.squared_error_sum]
            for k, v in outcomes.alerts
        ],
        "u": [[k.kind, k.control, n, r] for k, (n, r) in outcomes.actions],
    }  # fmt: skip


def _outcomes_of(body: dict[str, list[list[Any]]] | None) -> Outcomes:
    if not body:
        return Outcomes()
    return Outcomes(
        alerts=tuple(
            (AlertTallyKey(level, version, bucket), AlertTally(n, r, ps, se))
            for level, version, bucket, n, r, ps, se in body["a"]
        ),
        actions=tuple(
            (ActionTallyKey(kind, bool(control)), (n, r)) for kind, control, n, r in body["u"]
        ),
    )


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


def _decode_json_v2(raw: bytes) -> UserState:
    """The JSON format 2 (every float as text), written before format 3."""
    body = json.loads(raw)
    if body.get("v") != 2:
        raise ValueError(f"unknown user state format {body.get('v')!r}")
    recent = tuple(entry_of(row) for row in body["recent"])
    return _state_from_body(body, _decode_model_v2(body["model"]), recent)


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
