"""`score`: P(any event within H after a cutoff) per user, through the ONNX step graph.

Each user's events before the cutoff go through the worker's code path: the numeric features of
`stream_app.model.features`, one batched `ModelRuntime.step` per event position, then the
closed-form survival of `stream_app.model.survival` at the silence τ = cutoff − last event, with
the covariates of `stream_app.model.covariates` when the calibration has covariate weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from stream_app.clock import SECONDS_PER_DAY
from stream_app.model.covariates import covariates, history_of_log
from stream_app.model.eventlog import EventLog
from stream_app.model.features import category_buckets, log_numeric_features, spend_deltas
from stream_app.model.runtime import ModelRuntime
from stream_app.model.survival import return_probability

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Scores:
    """Users with history before the cutoff and their return probabilities."""

    user_id: npt.NDArray[np.object_]
    p_return: F64
    tau_days: F64


def final_heads(
    runtime: ModelRuntime, log_: EventLog, batch_users: int = 4096
) -> tuple[F64, F64, F64]:
    """Head parameters (U, R) after each user's last event (log sorted by user, time)."""
    users, starts = log_.user_bounds()
    lengths = np.diff(starts)
    order = np.argsort(-lengths, kind="stable")  # active users at step t form a prefix
    first, n_sorted = starts[:-1][order], lengths[order]
    buckets = category_buckets(list(log_.category_id))
    numeric = log_numeric_features(log_.ts_seconds, log_.event_type, log_.price, starts)
    h, c = runtime.initial_state(len(users))
    comps = runtime.spec.components
    heads = [np.zeros((len(users), comps)) for _ in range(3)]
    for t in range(int(lengths.max(initial=0))):
        active = int(np.searchsorted(-n_sorted, -t, side="left"))
        for lo in range(0, active, batch_users):
            sl = slice(lo, min(lo + batch_users, active))
            idx = first[sl] + t
            out = runtime.step(log_.event_type[idx], buckets[idx], numeric[idx], h[sl], c[sl])
            h[sl], c[sl] = out.h, out.c
            for arr, new in zip(heads, (out.mu, out.alpha, out.beta), strict=True):
                arr[sl] = new
    inverse = np.argsort(order)
    return heads[0][inverse], heads[1][inverse], heads[2][inverse]


def score(
    runtime: ModelRuntime, log_: EventLog, cutoff_seconds: float, horizon_days: float | None = None
) -> Scores:
    """Calibrated P(return within H | silent since the last event) at the cutoff."""
    before = log_.before(cutoff_seconds).sorted()
    users, starts = before.user_bounds()
    mu, alpha, beta = final_heads(runtime, before)
    tau = (cutoff_seconds - before.ts_seconds[starts[1:] - 1]) / SECONDS_PER_DAY
    horizon = runtime.spec.horizon_days if horizon_days is None else horizon_days
    shape = (
        np.asarray(runtime.spec.kernel_shapes, np.float64) if runtime.spec.kernel_shapes else None
    )
    x = None
    if runtime.calibration.weights:
        deltas = spend_deltas(before.event_type, before.price)
        x = covariates(history_of_log(before.ts_seconds, before.event_type, deltas, starts), tau)
    p = return_probability(mu, alpha, beta, tau, horizon, runtime.calibration, shape, x)
    return Scores(users, p, tau)
