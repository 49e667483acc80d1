"""Post-hoc calibration: Platt's σ(a·logit(p) + b), a > 0, and the stacked map over logit(P) and
the head's covariates (`stream_app.model.covariates`) that every model is served with.

`fit_stack` is the one procedure of every fit (each rolling origin, the shipped model and the
ablations). The covariate term t(x) = w·x + w0 is a logistic regression on the training cutoffs;
the head's weight is fitted where its P is out of sample, on the validation cutoff:
σ(a·logit P + c·t(x) + b). The term's L2 strength is chosen by the 2-fold cross-fitted
log-loss of that map on the validation cutoff. The head's P on the training cutoffs is not used
for any weight: its auxiliary loss was fitted on exactly those labels, so a weight fitted there
over-trusts it. There is no fallback: a is held at `HEAD_WEIGHT_FLOOR` when the data would make
it non-positive (the sequence head then adds nothing), and the fit records that it did.
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
#: Inverse L2 strengths tried for the covariate term (chosen by cross-fitted validation log-loss).
COVARIATE_C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
#: Smallest weight of logit(P): the served map must stay monotone in P.
HEAD_WEIGHT_FLOOR = 1e-3
#: Folds of the validation cutoff's cross-fitted log-loss, and the seed of their assignment.
VAL_FOLDS = 2
FOLD_SEED = 0
#: The procedure's name, recorded with every fit.
PROCEDURE = "term on the training cutoffs, head weight on validation (2-fold cross-fitted C)"
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
    """σ(w·d + b) over d = [logit P?, covariates?], as `fit_stack` chose it: `weights` are
    (a, c·w) and `intercept` is b + c·w0, the validation map folded over the covariate term."""

    head: bool
    covariates: bool
    weights: tuple[float, ...]
    intercept: float
    c: float | None
    term_weight: float | None
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
            "procedure": PROCEDURE,
            "covariate_c": self.c,
            "head_weight": self.weights[0] if self.head else None,
            "head_weight_at_floor": self.head_at_floor,
            "term_weight": self.term_weight,
            "val_logloss": self.val_logloss,
        }

    def line(self) -> str:
        """The fit's choices in one log line."""
        head = (f"head weight {self.weights[0]:.4f}"
                + (" (held at its floor: the sequence head adds nothing)"
                   if self.head_at_floor else "")) if self.head else "no head"  # fmt: skip
        term = (f"L2 C={self.c:g}, term weight {self.term_weight:.4f}"
                if self.covariates and self.c is not None and self.term_weight is not None
                else "no covariate term")  # fmt: skip
        return (f"{self.kind}: {term}, {head}, "
                f"cross-fitted val log-loss {self.val_logloss:.4f}")  # fmt: skip


def design(s: Scored, head: bool = True, covariates: bool = True) -> F64:
    """The served map's columns: logit P (if `head`), then the covariates (if `covariates`)."""
    cols = ([logit(s.p_raw)[:, None]] if head else []) + ([s.covariates] if covariates else [])
    out: F64 = np.concatenate(cols, axis=1)
    return out


def fit_term(train: list[Scored], c: float) -> tuple[F64, float]:
    """The covariate term t(x) = w·x + w0: an L2 logistic regression (inverse strength `c`) of
    the labels on the covariates over the training cutoffs (the head's P is not a column)."""
    x = np.concatenate([s.covariates for s in train])
    y = np.concatenate([s.label for s in train]).astype(np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    w_std, b_std = _bounded_logistic((x - mean) / scale, y, 1.0 / c, np.full(x.shape[1], -np.inf))
    weights = w_std / scale
    return weights, float(b_std - weights @ mean)


def _top(head_col: F64 | None, term: F64 | None, y: F64) -> tuple[F64, float]:
    """Maximum-likelihood σ(a·logit P + c·t + b) on one sample (a ≥ the floor)."""
    cols = [col for col in (head_col, term) if col is not None]
    lower = np.array(([HEAD_WEIGHT_FLOOR] if head_col is not None else [])
                     + ([-np.inf] if term is not None else []))  # fmt: skip
    return _bounded_logistic(np.stack(cols, axis=1), y, 0.0, lower)


def _folds(n: int) -> npt.NDArray[np.int64]:
    """Each validation row's fold (a fixed, seeded assignment)."""
    return np.random.default_rng(FOLD_SEED).permutation(n) % VAL_FOLDS


def cross_fitted_logloss(head_col: F64 | None, term: F64 | None, y: F64) -> float:
    """Log-loss of the validation map where each fold is predicted by the map fitted on the
    others."""
    fold = _folds(len(y))
    z = np.empty(len(y))
    for k in range(VAL_FOLDS):
        fit, out = fold != k, fold == k
        w, b = _top(None if head_col is None else head_col[fit],
                    None if term is None else term[fit], y[fit])  # fmt: skip
        cols = [col[out] for col in (head_col, term) if col is not None]
        z[out] = np.stack(cols, axis=1) @ w + b
    return float(log_loss(y, 1.0 / (1.0 + np.exp(-z)), labels=[0.0, 1.0]))


def fit_stack(
    train: list[Scored], val: Scored, head: bool = True, covariates: bool = True
) -> Stack:
    """The covariate term on the training cutoffs (L2 C by the cross-fitted validation
    log-loss), then σ(a·logit P + c·t(x) + b) on the validation cutoff, folded together."""
    y = val.label.astype(np.float64)
    head_col = logit(val.p_raw) if head else None
    if not covariates:
        loss = cross_fitted_logloss(head_col, None, y)
        (a,), b = _top(head_col, None, y)
        return Stack(True, False, (float(a),), b, None, None,
                     bool(a <= HEAD_WEIGHT_FLOOR * (1 + 1e-6)), loss)  # fmt: skip
    best: tuple[float, float, F64, float] = (np.inf, 0.0, np.zeros(0), 0.0)
    for c in COVARIATE_C_GRID:
        w, w0 = fit_term(train, c)
        loss = cross_fitted_logloss(head_col, val.covariates @ w + w0, y)
        if loss < best[0]:
            best = (loss, c, w, w0)
    loss, c, w, w0 = best
    top, b = _top(head_col, val.covariates @ w + w0, y)
    term_weight = float(top[-1])
    a = (float(top[0]),) if head else ()
    at_floor = bool(head and top[0] <= HEAD_WEIGHT_FLOOR * (1 + 1e-6))
    weights = a + tuple((term_weight * w).tolist())
    return Stack(head, True, weights, b + term_weight * w0, c, term_weight, at_floor, loss)


def fit_with_covariates(train: list[Scored], val: Scored) -> Calibration:
    """The served map of `fit_stack` over logit P and the covariates."""
    return fit_stack(train, val).calibration()
