"""Closed-form survival math of the mixture-of-exponential-kernels head (pure numpy).

Head parameters per user: rates `mu`, `alpha`, `beta` of shape (..., R) (all > 0, per day) and
category distributions `pi` of shape (..., R, K). With τ the silence in days:

- component strength  g_r(τ) = μ_r + α_r·exp(−β_r·τ)
- category interest   λ_k(τ) = Σ_r π_{r,k}·g_r(τ)
- cumulative hazard   Λ(τ)   = Σ_r μ_r·τ + (α_r/β_r)·(1 − exp(−β_r·τ))
- return within H     P(τ)   = 1 − exp(−[Λ(τ+H) − Λ(τ)]), falling to 1 − exp(−H·Σμ_r)

A calibration `σ(a·logit(P) + b + w·x(τ))` with a > 0 may be applied on top: Platt's map plus
a logistic term over closed-form covariates x(τ) (`stream_app.model.covariates`). With the
covariates, P need not be monotone in τ; the schedule finds its crossings on a grid
(`stream_app.schedule.levels`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]
_EPS = 1e-12


@dataclass(frozen=True, slots=True)
class Calibration:
    """`σ(a·logit(P) + b + w·x(τ))`: Platt's map on the logit of P, plus an optional logistic
    term over the covariates x(τ) of `stream_app.model.covariates` (`weights` in the order of
    `COVARIATE_NAMES`; () = none). Identity is (1, 0, ())."""

    a: float = 1.0
    b: float = 0.0
    weights: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not self.a > 0:
            raise ValueError("calibration slope must be positive to stay monotone")

    def apply(
        self, p: Array, covariates: Array | None = None, *, term: Array | None = None
    ) -> Array:
        """Calibrated probability. With weights it needs `covariates` (..., F), or `term`, the
        sum w·x already taken (`stream_app.model.covariates.covariate_logit`)."""
        z = self.a * logit(p) + self.b
        if self.weights:
            if term is None and covariates is None:
                raise ValueError("this calibration has covariate weights: pass the covariates")
            z = z + (term if term is not None else covariates @ np.asarray(self.weights))
        out: Array = 1.0 / (1.0 + np.exp(-z))
        return out

    def invert(self, p: float) -> float:
        """Raw probability whose calibrated value is `p` (a calibration without covariates)."""
        if self.weights:
            raise ValueError("a calibration with covariates has no single inverse")
        q = min(max(p, _EPS), 1 - _EPS)
        z = (math.log(q) - math.log1p(-q) - self.b) / self.a
        return 1.0 / (1.0 + math.exp(-z))


def logit(p: Array) -> Array:
    """log(p / (1 − p)), with p clipped into [1e-12, 1 − 1e-12] (as `Calibration.apply` reads it)."""
    q = np.clip(np.asarray(p, np.float64), _EPS, 1 - _EPS)
    out: Array = np.log(q) - np.log1p(-q)
    return out


def _tau(tau: Array | float) -> Array:
    return np.asarray(tau, np.float64)[..., None]


def _shape(shape: Array | None, like: Array) -> Array:
    """Kernel shapes broadcast to the rates (None: all 0, the exponential kernels)."""
    return np.zeros(np.shape(like)[-1]) if shape is None else np.asarray(shape, np.float64)


def kernel(beta: Array, tau: Array | float, shape: Array | None = None) -> Array:
    """(β·τ)^k·exp(−β·τ)/k!, shape (..., R)."""
    k = _shape(shape, beta)
    x = beta * _tau(tau)
    powered = np.exp(k * np.log(np.maximum(x, 1e-300)) - x - _log_factorial(k))
    out: Array = np.where(k == 0, np.exp(-x), np.where(x > 0, powered, 0.0))
    return out


def _log_factorial(k: Array) -> Array:
    out: Array = np.cumsum(np.log(np.maximum(np.arange(int(k.max(initial=0)) + 1), 1)))[
        k.astype(np.int64)
    ]
    return out


def upper_gamma(x: Array, shape: Array) -> Array:
    """Q_k(x) = exp(−x)·Σ_{j≤k} x^j/j! for integer k (the tail mass of a gamma(k+1) kernel)."""
    term = np.exp(-x)
    total = term.copy()
    for j in range(1, int(shape.max(initial=0)) + 1):
        term = term * x / j
        total = total + (term if shape.ndim == 0 else np.where(j <= shape, term, 0.0))
    out: Array = total
    return out


def component_strength(
    mu: Array, alpha: Array, beta: Array, tau: Array | float, shape: Array | None = None
) -> Array:
    """g_r(τ), shape (..., R)."""
    out: Array = mu + alpha * kernel(beta, tau, shape)
    return out


def intensity(
    mu: Array, alpha: Array, beta: Array, tau: Array | float, shape: Array | None = None
) -> Array:
    """Total return intensity Σ_r g_r(τ) (per day)."""
    out: Array = component_strength(mu, alpha, beta, tau, shape).sum(axis=-1)
    return out


def category_intensity(
    mu: Array, alpha: Array, beta: Array, pi: Array, tau: Array | float, shape: Array | None = None
) -> Array:
    """λ_k(τ) = Σ_r π_{r,k}·g_r(τ), shape (..., K)."""
    g = component_strength(mu, alpha, beta, tau, shape)
    out: Array = np.einsum("...r,...rk->...k", g, pi)
    return out


def cumulative_hazard(
    mu: Array, alpha: Array, beta: Array, tau: Array | float, shape: Array | None = None
) -> Array:
    """Λ(τ) = ∫₀^τ Σ_r g_r(s) ds."""
    t, k = _tau(tau), _shape(shape, beta)
    exponential = -(alpha / beta) * np.expm1(-beta * t)
    gamma = (alpha / beta) * (1.0 - upper_gamma(beta * t, k))
    out: Array = (mu * t + np.where(k == 0, exponential, gamma)).sum(axis=-1)
    return out


def horizon_hazard(
    mu: Array,
    alpha: Array,
    beta: Array,
    tau: Array | float,
    horizon: float,
    shape: Array | None = None,
) -> Array:
    """Λ(τ+H) − Λ(τ) in a cancellation-free form (exact exponential form where k = 0)."""
    t, k = _tau(tau), _shape(shape, beta)
    same = (
        _same_shapes(k)
        if k.any() and np.ndim(mu) == np.ndim(alpha) == np.ndim(beta) == t.ndim
        else None
    )
    if same is not None:
        return _horizon_hazard_by_column(
            np.asarray(mu), np.asarray(alpha), np.asarray(beta), t, horizon, same
        )
    return _horizon_hazard_any_shapes(mu, alpha, beta, t, horizon, k)


def _horizon_hazard_any_shapes(
    mu: Array, alpha: Array, beta: Array, t: Array, horizon: float, k: Array
) -> Array:
    """`horizon_hazard` for shapes that may differ between rows: both forms of every component."""
    exponential = _exponential_part(alpha, beta, t, horizon)
    if not k.any():
        out: Array = (mu * horizon + exponential).sum(axis=-1)
        return out
    gamma = _gamma_part(alpha, beta, t, horizon, k)
    out = (mu * horizon + np.where(k == 0, exponential, gamma)).sum(axis=-1)
    return out


def _horizon_hazard_by_column(
    mu: Array, alpha: Array, beta: Array, t: Array, horizon: float, shapes: list[int]
) -> Array:
    """`horizon_hazard` where every row has the same kernel shapes: each component in its own
    form only (the general form computes both forms of every component and the gamma sum up
    to the largest shape). The same operations on the same values: the same bits."""
    t = t[..., 0]
    parts = []
    for r, k in enumerate(shapes):
        a, b = alpha[..., r], beta[..., r]
        if k == 0:
            part = _exponential_part(a, b, t, horizon)
        else:
            part = _gamma_part(a, b, t, horizon, np.asarray(float(k)))
        parts.append(mu[..., r] * horizon + part)
    out: Array = np.stack(np.broadcast_arrays(*parts), axis=-1).sum(axis=-1)
    return out


def _same_shapes(k: Array) -> list[int] | None:
    """The kernel shapes when every row has the same ones (the usual case), else None."""
    rows = k.reshape(-1, k.shape[-1])
    if rows.shape[0] == 0 or not (rows == rows[0]).all():
        return None
    return [int(v) for v in rows[0]]


def _exponential_part(alpha: Array, beta: Array, t: Array, horizon: float) -> Array:
    """α/β·e^(−βτ)·(1 − e^(−βH)): an exponential component's mass over (τ, τ+H]."""
    out: Array = -(alpha / beta) * np.exp(-beta * t) * np.expm1(-beta * horizon)
    return out


def _gamma_part(alpha: Array, beta: Array, t: Array, horizon: float, k: Array) -> Array:
    """α/β·(Q_k(βτ) − Q_k(β(τ+H))): a gamma component's mass over (τ, τ+H]."""
    out: Array = (alpha / beta) * (upper_gamma(beta * t, k) - upper_gamma(beta * (t + horizon), k))
    return out


def return_probability(
    mu: Array,
    alpha: Array,
    beta: Array,
    tau: Array | float,
    horizon: float,
    calibration: Calibration | None = None,
    shape: Array | None = None,
    covariates: Array | None = None,
    term: Array | None = None,
) -> Array:
    """P(any event within `horizon` days | silent for τ days); `covariates` at the same τ feed
    the calibration's logistic term (`stream_app.model.covariates.covariates`), or `term`, that
    term already summed."""
    p: Array = -np.expm1(-horizon_hazard(mu, alpha, beta, tau, horizon, shape))
    return p if calibration is None else calibration.apply(p, covariates, term=term)


def return_probability_floor(
    mu: Array, horizon: float, calibration: Calibration | None = None
) -> Array:
    """lim τ→∞ P(τ) = 1 − exp(−H·Σμ_r): below it, no alert threshold is ever crossed."""
    p: Array = -np.expm1(-horizon * np.asarray(mu, np.float64).sum(axis=-1))
    return p if calibration is None else calibration.apply(p)
