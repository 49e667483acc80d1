"""Due times of a head whose P(τ) may rise, peak and decay (gamma kernels with k > 0).

P(τ) = P(return in (τ, τ+H] | silent τ) is no longer monotone: right after a purchase the
return probability dips (refractory period) and peaks near the user's usual gap. An alert level
falls due at the first τ *after the peak* where P drops to its threshold; a user whose peak
stays below the threshold falls due at the peak (never inside the dip after the event). The
search is a fixed vectorised grid (peak and bracketing cell per user) then a bisection of every
bracket at once, in the same float operations for one user or many.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from stream_app.model.survival import Calibration, horizon_hazard, times_to_threshold

Array = npt.NDArray[np.float64]
GRID_POINTS = 384
_TAIL = 40.0  # Q_k(x) < 1e-12 of the kernel's mass once x > k + 40


def _grid(beta: Array, shape: Array) -> Array:
    """(N, G) silence grid: 0, then geometric up to where every kernel has decayed."""
    hi = np.max((shape + _TAIL) / beta, axis=-1)
    lo = np.minimum(np.min((shape + 1.0) / beta, axis=-1) * 1e-3, hi * 1e-6)
    step = np.linspace(0.0, 1.0, GRID_POINTS - 1)[None, :]
    scaled = np.exp(np.log(lo)[:, None] + (np.log(hi) - np.log(lo))[:, None] * step)
    return np.concatenate([np.zeros((len(hi), 1)), scaled], axis=1)


def _hazard(mu: Array, alpha: Array, beta: Array, shape: Array, tau: Array, h: float) -> Array:
    """ΔΛ(τ) for (N, R) params and (N, M) silences → (N, M)."""
    return horizon_hazard(mu[:, None], alpha[:, None], beta[:, None], tau, h, shape)


def times_after_peak(
    mu: Array, alpha: Array, beta: Array, shape: Array, horizon: float, target: float, tol: float
) -> Array:
    """First τ after the peak of ΔΛ where ΔΛ(τ) <= target (N,), NaN where the floor stays above."""
    tau = np.full(mu.shape[0], np.nan)
    reachable = np.flatnonzero(horizon * mu.sum(axis=-1) < target)
    if reachable.size == 0:
        return tau
    m, a, b = mu[reachable], alpha[reachable], beta[reachable]
    grid = _grid(b, shape)
    hazard = _hazard(m, a, b, shape, grid, horizon)
    peak = np.argmax(hazard, axis=1)
    cols = np.arange(grid.shape[1])[None, :]
    below = (hazard <= target) & (cols >= peak[:, None])
    first = np.argmax(below, axis=1)  # the tail is below the target: always found
    rows = np.arange(len(reachable))
    at_peak = first == peak
    lo = grid[rows, np.maximum(first - 1, 0)]
    hi = grid[rows, first]
    active = np.flatnonzero(~at_peak & (hi - lo > tol * np.maximum(1.0, hi)))
    while active.size:
        mid = 0.5 * (lo[active] + hi[active])
        h = _hazard(m[active], a[active], b[active], shape, mid[:, None], horizon)[:, 0]
        above = h > target
        lo[active[above]] = mid[above]
        hi[active[~above]] = mid[~above]
        active = active[hi[active] - lo[active] > tol * np.maximum(1.0, hi[active])]
    tau[reachable] = hi
    return tau


def due_silences(
    mu: Array,
    alpha: Array,
    beta: Array,
    horizon: float,
    threshold: float,
    calibration: Calibration | None,
    shape: Array | None,
    tol_days: float = 1e-6,
) -> Array:
    """Silence (days) at which each of N users' P falls due at `threshold`; NaN = never.

    All-exponential heads (shape None or all 0) keep the exact monotone root of
    `stream_app.model.survival.times_to_threshold`; others search after the peak.
    """
    m, a, b = (np.asarray(x, np.float64) for x in (mu, alpha, beta))
    if shape is None or not np.any(shape):
        return times_to_threshold(m, a, b, horizon, threshold, calibration, tol_days)
    raw = threshold if calibration is None else calibration.invert(threshold)
    if not 0.0 < raw < 1.0:
        return np.full(m.shape[0], np.nan) if raw >= 1.0 else np.zeros(m.shape[0])
    target = -math.log1p(-raw)  # P(τ) <= raw  <=>  ΔΛ(τ) <= target
    return times_after_peak(m, a, b, np.asarray(shape, np.float64), horizon, target, tol_days)
