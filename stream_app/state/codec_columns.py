"""Format 6 (`stream_app.state.codec`) for a batch of users: `decode_columns` reads table values
into `StateColumns` and `encode_columns` writes rows back, one numpy operation per field for
all users whose values share their sizes; per user only bytes are sliced and joined. The bytes
equal `encode_state`'s for the same state (a unit test holds them to it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from stream_app.events.schema import EVENT_TYPES
from stream_app.state.codec import (
    HAS_DECAYED,
    HAS_FIRST,
    HAS_LAST,
    HAS_MODEL,
    HEADER_DTYPE,
    LAYOUT_FLAGS,
    MAGIC,
    NARROW_PAD,
    PREFIX,
    SHAPE_FIELDS,
    STATE_FORMAT_VERSION,
    WIDE_IDS,
    encode_state,
    extras_text,
    fits_u16,
    fixed_sizes,
    narrow_ids,
)
from stream_app.state.codec_older import decode_older_state
from stream_app.state.codec_rows import action_times_of, outcomes_of, predictions_of
from stream_app.state.columns import (
    I64,
    NO_BUCKET,
    ModelShapes,
    StateColumns,
    columns_of,
    shapes_of,
)
from stream_app.state.ring import PackedRing
from stream_app.state.user_state import UserState


def decode_columns(
    values: Sequence[bytes | None], shapes: ModelShapes | None = None
) -> StateColumns:
    """The states of table values (None: no state), row by row, in columns of `shapes` (by
    default the sizes of the first value with a model)."""
    rows = [i for i, raw in enumerate(values) if raw is not None and raw[:3] == PREFIX]
    current = [values[i] for i in rows]
    heads = _headers(current)  # type: ignore[arg-type]
    older = {
        i: decode_older_state(raw, MAGIC)
        for i, raw in enumerate(values)
        if raw is not None and raw[:3] != PREFIX
    }
    if shapes is None:
        shapes = _first_shapes(heads, list(older.values()))
    columns = StateColumns.empty(len(values), shapes)
    if rows:
        _read(columns, np.asarray(rows, np.int64), current, heads)  # type: ignore[arg-type]
    for i, state in older.items():
        columns.set(i, state)
    return columns


def _headers(values: list[bytes]) -> np.ndarray:
    """The fixed records of format-6 values, checked."""
    if any(len(raw) < HEADER_DTYPE.itemsize for raw in values):
        raise ValueError("user state truncated")
    heads = np.frombuffer(b"".join([raw[: HEADER_DTYPE.itemsize] for raw in values]), HEADER_DTYPE)
    if ((heads["width"] != 4) & (heads["width"] != 8)).any():
        raise ValueError("user state of an unknown float width")
    if (heads["types"] != len(EVENT_TYPES)).any():
        raise ValueError("user state with another number of event types")
    return heads


def _first_shapes(heads: np.ndarray, older: list[UserState]) -> ModelShapes:
    """The sizes of the first value with a model (zeros when none has one)."""
    with_model = np.flatnonzero(heads["flags"] & HAS_MODEL)
    if len(with_model):
        head = heads[with_model[0]]
        return ModelShapes(*(int(head[f]) for f in SHAPE_FIELDS))
    return shapes_of(list(older))


def _read(columns: StateColumns, rows: I64, values: list[bytes], heads: np.ndarray) -> None:
    """Fill `rows` from format-6 values: one group per layout, one array per field."""
    layout = np.stack(
        [heads["width"], heads["flags"] & LAYOUT_FLAGS, *(heads[f] for f in SHAPE_FIELDS)],
        axis=1,
    ).astype(np.int64)
    if (layout == layout[0]).all():  # the usual batch: one model, every user alike
        _read_group(columns, rows, values, heads, layout[0].tolist())
        return
    keys, group = np.unique(layout, axis=0, return_inverse=True)
    for g, key in enumerate(keys.tolist()):
        members = np.flatnonzero(group.reshape(-1) == g)
        _read_group(columns, rows[members], [values[i] for i in members.tolist()],
                    heads[members], key)  # fmt: skip


def _read_group(
    columns: StateColumns, rows: I64, values: list[bytes], heads: np.ndarray, key: list[int]
) -> None:
    width, flags, hidden, cell, components, top_components, each = key
    shapes = ModelShapes(hidden, cell, components, top_components, each)
    sizes = fixed_sizes(width, flags, shapes)
    start = HEADER_DTYPE.itemsize
    end = start + sum(sizes)
    lengths = np.fromiter(map(len, values), np.int64, len(values))
    tails = [heads[f].astype(np.int64) for f in ("version_bytes", "ring_bytes", "text_bytes")]
    if (lengths != end + tails[0] + tails[1] + tails[2]).any():
        raise ValueError("user state of the wrong length")
    block = np.frombuffer(b"".join([raw[start:end] for raw in values]), np.uint8)
    block = block.reshape(len(values), end - start)
    parts, at = [], 0
    for size in sizes:
        parts.append(np.ascontiguousarray(block[:, at : at + size]))
        at += size
    counts, decayed, floats, ids = parts
    row_flags = heads["flags"]
    columns.present[rows] = True
    columns.events[rows] = heads["events"]
    columns.spend[rows] = heads["spend"]
    columns.first[rows] = np.where(row_flags & HAS_FIRST, heads["first"], np.nan)
    columns.last[rows] = np.where(row_flags & HAS_LAST, heads["last"], np.nan)
    columns.last_offset[rows] = heads["last_offset"]
    columns.last_tick_offset[rows] = heads["last_tick_offset"]
    columns.alert_level[rows] = heads["alert_level"]
    columns.type_counts[rows] = counts.view("<i8")
    if flags & HAS_DECAYED:
        columns.decayed[rows] = decayed.view("<f8")
        columns.has_decayed[rows] = True
    versions = _tails(columns, rows.tolist(), values, heads, end)
    if flags & HAS_MODEL:
        numbers = floats.view("<f4" if width == 4 else "<f8").astype(np.float64)
        top_ids = ids.view("<i4" if flags & WIDE_IDS else "<u2").astype(np.int64)
        if not flags & WIDE_IDS:
            top_ids[top_ids == NARROW_PAD] = NO_BUCKET
        _read_models(columns, rows, versions, numbers, top_ids, shapes)


def _tails(
    columns: StateColumns, rows: list[int], values: list[bytes], heads: np.ndarray, at: int
) -> list[str]:
    """Version, ring and JSON of each row (bytes slices; JSON only where a user has it)."""
    versions: list[str] = []
    names: dict[bytes, str] = {}
    sized = zip(rows, values, heads["version_bytes"].tolist(), heads["ring_bytes"].tolist(),
                heads["ring_entries"].tolist(), heads["text_bytes"].tolist(), strict=True)  # fmt: skip
    for row, raw, version_bytes, ring_bytes, entries, text_bytes in sized:
        ring_at = at + version_bytes
        name = raw[at:ring_at]
        if name not in names:
            names[name] = name.decode("utf-8")
        versions.append(names[name])
        text_at = ring_at + ring_bytes
        columns.rings[row] = PackedRing(raw[ring_at:text_at], entries)
        if text_bytes:
            extras = json.loads(raw[text_at : text_at + text_bytes])
            columns.action_times[row] = action_times_of(extras)
            columns.predictions[row] = predictions_of(extras)
            columns.outcomes[row] = outcomes_of(extras.get("outc"))
    return versions


def _read_models(
    columns: StateColumns,
    rows: I64,
    versions: list[str],
    numbers: npt.NDArray[np.float64],
    top_ids: I64,
    shapes: ModelShapes,
) -> None:
    hidden, cell, components, top_components, each = shapes
    ends = np.cumsum([hidden, cell, components, components, components]).tolist()
    h, c, mu, alpha, beta, weights = np.split(numbers, ends, axis=1)
    top_shape = (len(rows), top_components, each)
    model = columns.model
    for row, version in zip(rows.tolist(), versions, strict=True):
        model.versions[row] = version
    if shapes == model.shapes:
        model.h[rows], model.c[rows] = h, c
        model.mu[rows], model.alpha[rows], model.beta[rows] = mu, alpha, beta
        model.top_weights[rows] = weights.reshape(top_shape)
        model.top_ids[rows] = top_ids.reshape(top_shape)
        return
    own = columns_of([None] * len(rows), shapes).model  # other shapes: each row as it is
    own.versions = list(versions)
    own.h, own.c, own.mu, own.alpha, own.beta = h, c, mu, alpha, beta
    own.top_weights, own.top_ids = weights.reshape(top_shape), top_ids.reshape(top_shape)
    for i, row in enumerate(rows.tolist()):
        state = own.state(i)
        assert state is not None
        model.odd[row] = state


def encode_columns(columns: StateColumns, rows: I64) -> list[bytes]:
    """Table values of `rows` (each present), in the order of `rows`."""
    model = columns.model
    regular = [r for r in rows.tolist() if r not in model.odd]
    out: dict[int, bytes] = {}
    if regular:
        out.update(zip(regular, _encode_regular(columns, np.asarray(regular, np.int64)),
                       strict=True))  # fmt: skip
    for row in rows.tolist():
        state = columns.state(row) if row in model.odd else None
        if state is not None:  # a model of other shapes: written on its own
            out[row] = encode_state(state)
    return [out[row] for row in rows.tolist()]


def _encode_regular(columns: StateColumns, rows: I64) -> list[bytes]:
    model = columns.model
    versions = [model.versions[r] for r in rows.tolist()]
    has_model = np.array([v is not None for v in versions], np.bool_)
    n = len(rows)
    floats = np.concatenate(
        [model.h[rows], model.c[rows], model.mu[rows], model.alpha[rows], model.beta[rows],
         model.top_weights[rows].reshape(n, -1)],
        axis=1,
    )  # fmt: skip
    narrow = floats.astype("<f4")
    exact = (narrow.astype(np.float64) == floats).all(axis=1)  # NaN is never exact: float64
    ids = model.top_ids[rows].reshape(n, -1)
    wide = ~fits_u16(ids)
    width = np.where(exact | ~has_model, 4, 8)
    decayed = columns.has_decayed[rows]
    flags = (
        np.where(np.isnan(columns.first[rows]), 0, HAS_FIRST)
        | np.where(np.isnan(columns.last[rows]), 0, HAS_LAST)
        | np.where(has_model, HAS_MODEL, 0)
        | np.where(has_model & wide, WIDE_IDS, 0)
        | np.where(decayed, HAS_DECAYED, 0)
    ).astype(np.uint8)
    version_bytes = [b"" if v is None else v.encode("utf-8") for v in versions]
    texts = [
        extras_text(columns.action_times[r], columns.predictions[r], columns.outcomes[r])
        for r in rows.tolist()
    ]
    rings = [columns.rings[r] for r in rows.tolist()]
    heads = np.zeros(n, HEADER_DTYPE)
    heads["magic"], heads["format"], heads["width"], heads["flags"] = (
        MAGIC, STATE_FORMAT_VERSION, width, flags
    )  # fmt: skip
    heads["events"] = columns.events[rows]
    heads["spend"] = columns.spend[rows]
    heads["first"] = np.nan_to_num(columns.first[rows], nan=0.0)
    heads["last"] = np.nan_to_num(columns.last[rows], nan=0.0)
    heads["last_offset"] = columns.last_offset[rows]
    heads["last_tick_offset"] = columns.last_tick_offset[rows]
    heads["alert_level"] = columns.alert_level[rows]
    heads["types"] = len(EVENT_TYPES)
    heads["ring_entries"] = [len(ring) for ring in rings]
    heads["ring_bytes"] = [len(ring.frames) for ring in rings]
    heads["text_bytes"] = [len(text) for text in texts]
    heads["version_bytes"] = [len(v) for v in version_bytes]
    for name, size in zip(SHAPE_FIELDS, model.shapes, strict=True):
        heads[name] = np.where(has_model, size, 0)
    layout = (width * 64 + (flags & LAYOUT_FLAGS)).astype(np.int64)
    out: list[bytes] = [b""] * n
    for key in np.unique(layout).tolist():
        members = np.flatnonzero(layout == key)
        group_flags = key % 64
        parts = [heads[members].view(np.uint8).reshape(len(members), -1),
                 _bytes(columns.type_counts[rows[members]], "<i8")]  # fmt: skip
        if group_flags & HAS_DECAYED:
            parts.append(_bytes(columns.decayed[rows[members]], "<f8"))
        if group_flags & HAS_MODEL:
            parts.append(_bytes(floats[members], "<f4" if key // 64 == 4 else "<f8"))
            group_ids = ids[members]
            if not group_flags & WIDE_IDS:
                group_ids = narrow_ids(group_ids)
            parts.append(_bytes(group_ids, "<i4" if group_flags & WIDE_IDS else "<u2"))
        fixed = np.concatenate(parts, axis=1)
        size = fixed.shape[1]
        buffer = fixed.tobytes()
        for i, m in enumerate(members.tolist()):
            out[m] = b"".join(
                (buffer[i * size : (i + 1) * size], version_bytes[m], rings[m].frames, texts[m])
            )
    return out


def _bytes(values: np.ndarray, dtype: str) -> npt.NDArray[np.uint8]:
    """(n, k) values as (n, k·size) bytes of `dtype`."""
    typed = np.ascontiguousarray(values, dtype)
    return typed.view(np.uint8).reshape(len(values), -1)
