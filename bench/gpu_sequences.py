"""Real Taobao sequences through the exported graphs, and how far two providers' outputs differ
(the GPU check's parity parts)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from stream_app.data.sources import load_events
from stream_app.events.schema import Event
from stream_app.model.contract import (
    INPUT_C,
    INPUT_CATEGORY,
    INPUT_EVENT_TYPE,
    INPUT_H,
    INPUT_NUMERIC,
    OUTPUT_NAMES,
)
from stream_app.model.features import encode_user_events
from stream_app.paths import REPO_ROOT

PARITY_TOLERANCE = 1e-4
FALLBACK_EVENTS = REPO_ROOT / "tests" / "fixtures" / "online_retail_sample.csv"


# --------------------------------------------------------------------------- real sequences
def real_sequences(users: int, steps: int) -> dict[str, np.ndarray]:
    """Sequence-graph inputs [B, T, …] of `users` real users' first `steps` events."""
    by_user = _events_by_user()
    chosen = sorted((u for u, ev in by_user.items() if len(ev) >= steps), key=_user_order)
    if not chosen:
        raise RuntimeError(f"no user has {steps} events")
    encoded = [_encode_user(by_user[u][:steps]) for u in chosen[:users]]
    return {name: np.stack([e[name] for e in encoded]) for name in encoded[0]}


def _events_by_user() -> dict[str, list[Event]]:
    try:
        events = list(load_events("taobao-slice"))
    except Exception:  # the shared dataset is absent (e.g. a bare device machine)
        events = list(load_events(str(FALLBACK_EVENTS)))
    by_user: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_user[event.user_id].append(event)
    return {u: sorted(ev, key=lambda e: e.ts_seconds) for u, ev in by_user.items()}


def _user_order(user_id: str) -> tuple[int, str]:
    return (len(user_id), user_id)


def _encode_user(events: list[Event]) -> dict[str, np.ndarray]:
    enc = encode_user_events(events)
    return {
        INPUT_EVENT_TYPE: enc.event_type,
        INPUT_CATEGORY: enc.category_bucket,
        INPUT_NUMERIC: enc.numeric.astype(np.float32),
    }


# --------------------------------------------------------------------------- parity
def sequence_outputs(session: Any, seqs: dict[str, np.ndarray], hidden: int) -> dict[str, Any]:
    """The sequence graph from a zero state: final (h, c) and per-step heads."""
    zeros = np.zeros((seqs[INPUT_EVENT_TYPE].shape[0], hidden), np.float32)
    values = session.run(None, {**seqs, INPUT_H: zeros, INPUT_C: zeros})
    return dict(zip(OUTPUT_NAMES, values, strict=True))


def step_outputs(session: Any, seqs: dict[str, np.ndarray], hidden: int) -> dict[str, Any]:
    """The step graph event by event from a zero state, stacked like `sequence_outputs`."""
    batch, steps = seqs[INPUT_EVENT_TYPE].shape
    h = c = np.zeros((batch, hidden), np.float32)
    heads: dict[str, list[np.ndarray]] = defaultdict(list)
    for t in range(steps):
        feeds = {name: np.ascontiguousarray(v[:, t]) for name, v in seqs.items()}
        out = dict(
            zip(OUTPUT_NAMES, session.run(None, {**feeds, INPUT_H: h, INPUT_C: c}), strict=True)
        )
        h, c = out[OUTPUT_NAMES[0]], out[OUTPUT_NAMES[1]]
        for name in OUTPUT_NAMES[2:]:
            heads[name].append(out[name])
    stacked = {name: np.stack(v, axis=1) for name, v in heads.items()}
    return {OUTPUT_NAMES[0]: h, OUTPUT_NAMES[1]: c, **stacked}


def max_abs_diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float]:
    """Per output, the largest |a − b| (NaN on one side only counts as infinite)."""
    out = {}
    for name in OUTPUT_NAMES:
        x, y = np.asarray(a[name], np.float64), np.asarray(b[name], np.float64)
        d = np.where(np.isnan(x) & np.isnan(y), 0.0, np.abs(x - y))
        out[name] = float(np.nan_to_num(d, nan=np.inf).max())
    return out


def parity_entry(label: str, a: dict[str, Any], b: dict[str, Any], users: int) -> dict[str, Any]:
    """One parity comparison as a result row."""
    diffs = max_abs_diff(a, b)
    worst = max(diffs.values())
    steps = int(np.asarray(a[OUTPUT_NAMES[2]]).shape[1])
    entry = {"compare": label, "users": users, "steps": steps, "max_abs_diff": worst}
    return entry | {"per_output": diffs, "pass": worst < PARITY_TOLERANCE}


def hidden_size(session: Any) -> int:
    """The graphs' LSTM state width from their metadata."""
    return int(session.get_modelmeta().custom_metadata_map["decay_stream.hidden_size"])
