"""Post-hoc calibration: Platt's σ(a·logit(p) + b), a > 0, and the same with a logistic term
over the head's covariates (`stream_app.model.covariates`); tuned on validation only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from export.dataset import EncodedLog, restrict_to_rows
from export.labels import CutoffLabels
from stream_app.model.covariates import History, history_of_log
from stream_app.model.features import spend_deltas
from stream_app.model.survival import Calibration, logit

F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]
#: Inverse L2 strengths tried for the covariate term (chosen by validation log-loss).
COVARIATE_C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


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
    """Maximum-likelihood (a, b); identity if the slope is not positive."""
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


def fit_with_covariates(train: list[Scored], val: Scored) -> Calibration:
    """logit(P) and the covariates → logistic regression on the training cutoffs (L2 chosen by
    validation log-loss), then Platt on validation, folded into one `Calibration`.

    Falls back to Platt alone when the fitted weight of logit(P) is not positive.
    """
    x = np.concatenate([_design(s) for s in train])
    y = np.concatenate([s.label for s in train])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    best: tuple[float, LogisticRegression | None] = (np.inf, None)
    for c in COVARIATE_C_GRID:
        model = LogisticRegression(C=c, max_iter=2000).fit((x - mean) / scale, y)
        z_val = model.decision_function((_design(val) - mean) / scale)
        loss = float(log_loss(val.label, 1.0 / (1.0 + np.exp(-z_val)), labels=[False, True]))
        if loss < best[0]:
            best = (loss, model)
    model = best[1]
    assert model is not None
    weights = model.coef_[0] / scale
    intercept = float(model.intercept_[0] - weights @ mean)
    a, b = _newton_platt(_design(val) @ weights + intercept, val.label.astype(np.float64))
    if not (weights[0] > 0 and a > 0):
        return fit_platt(val.p_raw, val.label)
    return Calibration(a * float(weights[0]), a * intercept + b, tuple((a * weights[1:]).tolist()))


def _design(s: Scored) -> F64:
    out: F64 = np.concatenate([logit(s.p_raw)[:, None], s.covariates], axis=1)
    return out
