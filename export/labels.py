"""Time-based split and labels: at cutoff T, who comes back within H days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from export.dataset import EncodedLog
from stream_app.clock import SECONDS_PER_DAY

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Split:
    """Calendar split. Training uses events before `val_cutoff`; labels never cross a cutoff.

    - train: likelihood over events before `val_cutoff` (last gap censored there) and labels
      at `train_cutoffs` (each with cutoff + H <= val_cutoff);
    - validation: label window [val_cutoff, val_cutoff + H), inputs before val_cutoff;
    - test: label window [test_cutoff, test_cutoff + H), inputs before test_cutoff.
    """

    train_cutoffs: tuple[datetime, ...]
    val_cutoff: datetime
    test_cutoff: datetime
    horizon_days: float

    def __post_init__(self) -> None:
        h = timedelta(days=self.horizon_days)
        if any(c + h > self.val_cutoff for c in self.train_cutoffs):
            raise ValueError("a train label window reaches into validation")
        if self.val_cutoff + h > self.test_cutoff:
            raise ValueError("the validation label window reaches into test")


def make_split(
    first_train_cutoff: datetime,
    val_cutoff: datetime,
    test_cutoff: datetime,
    horizon_days: float,
    every_days: float,
) -> Split:
    """Train cutoffs every `every_days` from `first_train_cutoff` while their window fits."""
    cutoffs = []
    c = first_train_cutoff
    while c + timedelta(days=horizon_days) <= val_cutoff:
        cutoffs.append(c)
        c += timedelta(days=every_days)
    return Split(tuple(cutoffs), val_cutoff, test_cutoff, horizon_days)


@dataclass(frozen=True)
class CutoffLabels:
    """Per user with history before the cutoff (rows index `EncodedLog.users`)."""

    cutoff_seconds: float
    rows: I64
    last_index: I64  # global index of the user's last event before the cutoff
    position: I64  # its index within the user's run
    tau_days: F64  # silence at the cutoff
    label: npt.NDArray[np.bool_]  # any event in [cutoff, cutoff + H)
    return_days: F64  # time to first event after the cutoff, capped at H
    next_bucket: I64  # category bucket of that first event (0 if none)


def return_mask(enc: EncodedLog) -> npt.NDArray[np.bool_]:
    """Events that count as a return (by default every type but a cancellation)."""
    return enc.is_return


def next_return_index(enc: EncodedLog) -> I64:
    """Per event, the index of the first return at or after it within its user (n if none)."""
    n = len(enc.event_type)
    candidate = np.where(return_mask(enc), np.arange(n), n)
    suffix_min = np.minimum.accumulate(candidate[::-1])[::-1] if n else candidate
    user_end = np.repeat(enc.starts[1:], enc.lengths)
    out: I64 = np.where(suffix_min < user_end, suffix_min, n).astype(np.int64)
    return out


def cutoff_labels(enc: EncodedLog, cutoff: datetime, horizon_days: float) -> CutoffLabels:
    """Labels at one cutoff for every user with history before it: a return (not a
    cancellation) in [cutoff, cutoff + H)."""
    t0 = cutoff.timestamp()
    ts = enc.log.ts_seconds
    n_before = np.add.reduceat((ts < t0).astype(np.int64), enc.starts[:-1])
    rows = np.flatnonzero(n_before > 0).astype(np.int64)
    last = enc.starts[rows] + n_before[rows] - 1
    first_after = last + 1
    nxt = next_return_index(enc)
    ts_pad = np.append(ts, np.inf)
    ret = np.where(
        first_after < enc.starts[rows + 1], nxt[np.minimum(first_after, len(ts) - 1)], len(ts)
    )
    wait = (ts_pad[ret] - t0) / SECONDS_PER_DAY
    label = wait < horizon_days
    bucket = np.where(label, np.append(enc.category_bucket, 0)[ret], 0)
    return CutoffLabels(
        cutoff_seconds=t0,
        rows=rows,
        last_index=last,
        position=n_before[rows] - 1,
        tau_days=(t0 - ts[last]) / SECONDS_PER_DAY,
        label=label,
        return_days=np.minimum(wait, horizon_days),
        next_bucket=bucket.astype(np.int64),
    )
