"""From a canonical event log to model inputs: encoded columns and padded user sequences.

Likelihood targets are visits: the hazard after each event is for the next *visit start* (a
non-cancellation >= 1 h after the previous event); a cancellation or an event inside the same
visit ends the gap as censored, so bursts and refunds are inputs, never returns.

The numeric columns come from `stream_app.model.features.log_numeric_features`, which feeds the
worker's `numeric_features` with what the worker's per-user state holds before each event.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stream_app.clock import SECONDS_PER_DAY
from stream_app.events.schema import EventType
from stream_app.model.eventlog import EventLog
from stream_app.model.features import category_buckets, event_type_index, log_numeric_features

I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
#: Events closer than this to the previous one belong to the same visit (not a return).
VISIT_MERGE_SECONDS = 3600.0
CANCEL_INDEX = event_type_index(EventType.CANCEL)


@dataclass(frozen=True)
class EncodedLog:
    """A sorted log with per-event model inputs and user run offsets."""

    log: EventLog
    users: npt.NDArray[np.object_]
    starts: I64
    event_type: I64
    category_bucket: I64
    numeric: F32
    is_return: npt.NDArray[np.bool_]  # events that count as a return (the target's types)

    @property
    def lengths(self) -> I64:
        """Events per user."""
        out: I64 = np.diff(self.starts)
        return out


def position_in_user(starts: I64, n: int) -> I64:
    """0-based index of each event within its user's run."""
    idx = np.arange(n, dtype=np.int64)
    return idx - np.repeat(starts[:-1], np.diff(starts))


def encode_log(log: EventLog, return_types: tuple[str, ...] = ()) -> EncodedLog:
    """Encode every event of a log (sorted by user, time) exactly as the worker would.

    `return_types` names the event types that count as a return (the model's target, e.g.
    `("purchase",)`); () means every type but `cancel`.
    """
    log = log.sorted()
    users, starts = log.user_bounds()
    numeric = log_numeric_features(log.ts_seconds, log.event_type, log.price, starts)
    return EncodedLog(
        log=log,
        users=users,
        starts=starts,
        event_type=log.event_type.astype(np.int64),
        category_bucket=category_buckets(list(log.category_id)),
        numeric=numeric,
        is_return=_returns(log.event_type, return_types),
    )


def _returns(event_type: I64, return_types: tuple[str, ...]) -> npt.NDArray[np.bool_]:
    if not return_types:
        out: npt.NDArray[np.bool_] = event_type != CANCEL_INDEX
        return out
    wanted = [event_type_index(EventType(t)) for t in return_types]
    return np.isin(event_type, wanted)


def restrict(enc: EncodedLog, end_seconds: float) -> EncodedLog:
    """Only events strictly before `end_seconds` (features do not depend on later events)."""
    keep = enc.log.ts_seconds < end_seconds
    log = enc.log.take(keep)
    users, starts = log.user_bounds()
    return EncodedLog(log, users, starts, enc.event_type[keep], enc.category_bucket[keep],
                      enc.numeric[keep], enc.is_return[keep])  # fmt: skip


def restrict_to_rows(enc: EncodedLog, end_seconds: float, rows: I64) -> tuple[EncodedLog, I64]:
    """`restrict(enc, end_seconds)` and where the users `rows` of `enc` are in it."""
    sub = restrict(enc, end_seconds)
    index = {u: i for i, u in enumerate(sub.users)}
    return sub, np.array([index[u] for u in enc.users[rows]], np.int64)


@dataclass(frozen=True)
class Padded:
    """Padded (U, T) arrays of some users' sequences, plus the next-gap targets."""

    event_type: I64
    category_bucket: I64
    numeric: F32
    mask: npt.NDArray[np.bool_]
    gap_days: F32  # time to next event, or to the window end for the last event
    next_bucket: I64  # bucket of the next event (0 for the last)
    observed: npt.NDArray[np.bool_]  # the next event starts a visit (False: censored there)


def visit_starts(
    enc: EncodedLog, merge_seconds: float = VISIT_MERGE_SECONDS
) -> npt.NDArray[np.bool_]:
    """Events that start a new visit: a return type (not a cancellation), and >= `merge_seconds`
    after the user's previous event (split invoices and clicks minutes apart are one visit)."""
    ts = enc.log.ts_seconds
    gap = np.diff(ts, prepend=-np.inf)
    gap[enc.starts[:-1]] = np.inf
    out: npt.NDArray[np.bool_] = enc.is_return & (gap >= merge_seconds)
    return out


def pad_users(enc: EncodedLog, rows: I64, window_end: float) -> Padded:
    """Pad the sequences of user rows `rows`, with gap targets censored at `window_end`."""
    lengths = enc.lengths[rows]
    u, t = len(rows), int(lengths.max()) if len(rows) else 0
    out = Padded(
        np.zeros((u, t), np.int64),
        np.zeros((u, t), np.int64),
        np.zeros((u, t, enc.numeric.shape[1]), np.float32),
        np.zeros((u, t), bool),
        np.zeros((u, t), np.float32),
        np.zeros((u, t), np.int64),
        np.zeros((u, t), bool),
    )
    ts = enc.log.ts_seconds
    starts_visit = visit_starts(enc)
    for i, r in enumerate(rows):
        a, b = int(enc.starts[r]), int(enc.starts[r + 1])
        n = b - a
        out.event_type[i, :n] = enc.event_type[a:b]
        out.category_bucket[i, :n] = enc.category_bucket[a:b]
        out.numeric[i, :n] = enc.numeric[a:b]
        out.mask[i, :n] = True
        nxt = np.append(ts[a + 1 : b], window_end)
        out.gap_days[i, :n] = np.maximum(nxt - ts[a:b], 0.0) / SECONDS_PER_DAY
        out.next_bucket[i, : n - 1] = enc.category_bucket[a + 1 : b]
        out.observed[i, : n - 1] = starts_visit[a + 1 : b]
    return out


def length_batches(lengths: I64, batch_users: int, max_events: int = 8192) -> list[I64]:
    """User rows grouped into batches of similar length (deterministic), each at most
    `batch_users` users and `max_events` padded positions (long clickstreams come in small
    batches: the category head is (users, time, R, K))."""
    return token_batches(np.argsort(lengths, kind="stable"), lengths, batch_users, max_events)


def token_batches(order: I64, lengths: I64, batch_users: int, max_events: int) -> list[I64]:
    """Consecutive runs of `order` with <= batch_users rows and rows·max length <= max_events."""
    batches: list[I64] = []
    start, longest = 0, 0
    for i, row in enumerate(order.tolist()):
        longest = max(longest, int(lengths[row]))
        if i > start and (i - start >= batch_users or (i - start + 1) * longest > max_events):
            batches.append(order[start:i])
            start, longest = i, int(lengths[row])
    if len(order) > start:
        batches.append(order[start:])
    return batches
