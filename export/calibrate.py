"""Monotone post-hoc calibration σ(a·logit(p) + b), a > 0, fitted on validation only."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from stream_app.model.survival import Calibration

F64 = npt.NDArray[np.float64]


def _logit(p: F64) -> F64:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    out: F64 = np.log(q) - np.log1p(-q)
    return out


def fit_platt(prob: F64, label: npt.NDArray[np.bool_], iters: int = 50) -> Calibration:
    """Maximum-likelihood (a, b) by Newton's method; identity if the slope is not positive."""
    x, y = _logit(prob), label.astype(np.float64)
    w = np.array([1.0, 0.0])
    design = np.stack([x, np.ones_like(x)], axis=1)
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(design @ w)))
        grad = design.T @ (p - y)
        hess = design.T @ (design * (p * (1 - p))[:, None]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return Calibration(float(w[0]), float(w[1])) if w[0] > 0 else Calibration()
