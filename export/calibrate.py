"""Post-hoc calibration: Platt's σ(a·logit(p) + b), a > 0, and the stacked map over logit(P) and
the head's covariates (`stream_app.model.covariates`) that every model is served with.

`fit_stack` is the one procedure of every fit (each rolling origin, the shipped model and the
ablations): a logistic regression over the chosen columns on the training cutoffs (L2 chosen by
validation log-loss), then Platt on the validation cutoff, folded into one map. There is no
fallback: the weight of logit(P) is held at `HEAD_WEIGHT_FLOOR` when the data would make it
non-positive (the sequence head then adds nothing), and the fit records that it did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from sklearn.metrics import log_loss

from export.dataset import EncodedLog, restrict_to_rows
from export.labels import CutoffLabels
from stream_app.model.covariates import History, history_of_log
from stream_app.model.features import spend_deltas
from stream_app.model.survival import Calibration, logit

F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]
#: Inverse L2 strengths tried for the stacked term (chosen by validation log-loss).
COVARIATE_C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
#: Smallest weight of logit(P) (and of the Platt slope): the served map must stay monotone in P.
HEAD_WEIGHT_FLOOR = 1e-3
STACKED = "platt_on_logit_with_covariates"
KINDS = {(True, True): STACKED, (True, False): "platt_on_logit", (False, True): "covariates_only"}


def _newton_platt(z: F64, y: F64, iters: int = 50) -> tuple[float, float]:
    """Maximum-likelihood (a, b) of σ(a·z + b) by Newton's method."""
    w = np.array([1.0, 0.0])
    design = np.stack([z, np.ones_like(z)], axis=1)
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(design @ w)))
        grad = design.T @ (p - y)
        hess = design.T @ (design * (p * (1 - p))[:, None]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(w[0]), float(w[1])


def fit_platt(prob: F64, label: Bool, iters: int = 50) -> Calibration:
    """Maximum-likelihood (a, b) of a baseline's map; identity if the slope is not positive."""
    a, b = _newton_platt(logit(np.clip(prob, 1e-6, 1 - 1e-6)), label.astype(np.float64), iters)
    return Calibration(a, b) if a > 0 else Calibration()


@dataclass(frozen=True)
class Scored:
    """One labelled cutoff: the head's raw P, the covariates at the same τ, the labels."""

    p_raw: F64
    covariates: F64
    label: Bool


def history_at(enc: EncodedLog, lbl: CutoffLabels) -> History:
    """The labelled users' covariate history at their last event before the cutoff."""
    sub, rows = restrict_to_rows(enc, lbl.cutoff_seconds, lbl.rows)
    deltas = spend_deltas(sub.event_type, sub.log.price)
    return history_of_log(sub.log.ts_seconds, sub.event_type, deltas, sub.starts).take(rows)


def _bounded_logistic(x: F64, y: F64, penalty: float, lower: F64) -> tuple[F64, float]:
    """argmin Σ log-loss(σ(x·w + b)) + penalty/2·|w|² subject to w ≥ lower (b is free)."""
    sign = 2.0 * y - 1.0

    def objective(theta: F64) -> tuple[float, F64]:
        z = x @ theta[:-1] + theta[-1]
        loss = float(np.logaddexp(0.0, -sign * z).sum() + 0.5 * penalty * theta[:-1] @ theta[:-1])
        r = 1.0 / (1.0 + np.exp(-z)) - y
        grad = np.append(x.T @ r + penalty * theta[:-1], r.sum())
        return loss, grad

    start = np.append(np.maximum(np.zeros(x.shape[1]), lower), 0.0)
    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower] + [(None, None)]
    res = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": 2000, "gtol": 1e-8})  # fmt: skip
    return np.asarray(res.x[:-1], np.float64), float(res.x[-1])


@dataclass(frozen=True)
class Stack:
    """σ(w·d + b) over d = [logit P?, covariates?], as `fit_stack` chose it; `weights` and
    `intercept` already include the Platt map of the validation cutoff."""

    head: bool
    covariates: bool
    weights: tuple[float, ...]
    intercept: float
    c: float
    platt_slope: float
    head_at_floor: bool
    val_logloss: float

    @property
    def kind(self) -> str:
        """The configuration's name, as recorded in metrics.json and the card."""
        return KINDS[(self.head, self.covariates)]

    def predict(self, s: Scored) -> F64:
        """The stacked probability of one labelled cutoff."""
        z = design(s, self.head, self.covariates) @ np.asarray(self.weights) + self.intercept
        out: F64 = 1.0 / (1.0 + np.exp(-z))
        return out

    def calibration(self) -> Calibration:
        """The served map σ(a·logit P + b + w·x(τ)) (only a stack with the head is served)."""
        if not self.head:
            raise ValueError(f"a {self.kind} stack has no head to serve")
        return Calibration(self.weights[0], self.intercept, tuple(self.weights[1:]))

    def record(self) -> dict[str, Any]:
        """What the fit chose, for metrics.json."""
        return {
            "kind": self.kind,
            "covariate_c": self.c,
            "head_weight": self.weights[0] if self.head else None,
            "head_weight_at_floor": self.head_at_floor,
            "platt_slope": self.platt_slope,
            "val_logloss": self.val_logloss,
        }

    def line(self) -> str:
        """The fit's choices in one log line."""
        head = (f"head weight {self.weights[0]:.4f}"
                + (" (held at its floor: the sequence head adds nothing)"
                   if self.head_at_floor else "")) if self.head else "no head"  # fmt: skip
        return (f"{self.kind}: L2 C={self.c:g}, {head}, Platt slope {self.platt_slope:.4f}, "
                f"val log-loss {self.val_logloss:.4f}")  # fmt: skip


def design(s: Scored, head: bool = True, covariates: bool = True) -> F64:
    """The stack's columns: logit P (if `head`), then the covariates (if `covariates`)."""
    cols = ([logit(s.p_raw)[:, None]] if head else []) + ([s.covariates] if covariates else [])
    out: F64 = np.concatenate(cols, axis=1)
    return out


def fit_stack(
    train: list[Scored], val: Scored, head: bool = True, covariates: bool = True
) -> Stack:
    """The columns → L2 logistic regression on the training cutoffs (C by validation log-loss,
    the weight of logit P ≥ `HEAD_WEIGHT_FLOOR`), then Platt on validation, folded together."""
    x = np.concatenate([design(s, head, covariates) for s in train])
    y = np.concatenate([s.label for s in train]).astype(np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    lower = np.full(x.shape[1], -np.inf)
    if head:
        lower[0] = HEAD_WEIGHT_FLOOR * scale[0]
    xv = (design(val, head, covariates) - mean) / scale
    best: tuple[float, float, F64, float] = (np.inf, 0.0, np.zeros(0), 0.0)
    for c in COVARIATE_C_GRID:
        w, b = _bounded_logistic((x - mean) / scale, y, 1.0 / c, lower)
        p_val = 1.0 / (1.0 + np.exp(-(xv @ w + b)))
        loss = float(log_loss(val.label, p_val, labels=[False, True]))
        if loss < best[0]:
            best = (loss, c, w, b)
    loss, c, w_std, b_std = best
    at_floor = bool(head and w_std[0] <= lower[0] * (1 + 1e-6))
    weights = w_std / scale
    intercept = float(b_std - weights @ mean)
    z_val = design(val, head, covariates) @ weights + intercept
    slope, shift = _bounded_logistic(z_val[:, None], val.label.astype(np.float64), 0.0,
                                     np.array([HEAD_WEIGHT_FLOOR]))  # fmt: skip
    a = float(slope[0])
    return Stack(head, covariates, tuple((a * weights).tolist()), a * intercept + shift, c, a,
                 at_floor, loss)  # fmt: skip


def fit_with_covariates(train: list[Scored], val: Scored) -> Calibration:
    """The served map of `fit_stack` over logit P and the covariates."""
    return fit_stack(train, val).calibration()
