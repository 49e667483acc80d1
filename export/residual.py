"""The covariate term as a fixed offset of the head's training (`TrainConfig.residual`).

The term t(x) = w·x + w0 is the one of `export.calibrate.fit_term`, fitted on the training
cutoffs only (its L2 strength by the log-loss of σ(t) on the validation cutoff). The head's
auxiliary return-within-H loss then reads σ(a·logit P + t(x) + b), t fixed, a > 0 and b trained
with the network, so the sequence model is trained on what the covariates miss; early stopping
reads the same map on the validation cutoff. The served map is fitted afterwards by
`export.calibrate.fit_stack`, exactly as without the offset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.metrics import log_loss

from export.calibrate import COVARIATE_C_GRID, Scored, fit_term, history_at
from export.dataset import EncodedLog
from export.labels import CutoffLabels
from stream_app.model.covariates import covariates

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Offsets:
    """t(x) per labelled user of each training cutoff (aligned with its `rows`) and of the
    validation cutoff, and the L2 strength the term was fitted with."""

    train: tuple[F64, ...]
    val: F64
    c: float


def _covariates_at(enc: EncodedLog, lbl: CutoffLabels) -> F64:
    out: F64 = covariates(history_at(enc, lbl), lbl.tau_days)
    return out


def fit_offsets(
    train_enc: EncodedLog, aux: list[CutoffLabels], enc: EncodedLog, val: CutoffLabels
) -> Offsets:
    """The covariate term on the training cutoffs (C by σ(t)'s log-loss on validation), read at
    every training cutoff and at the validation cutoff."""
    x_train = [_covariates_at(train_enc, lbl) for lbl in aux]
    x_val = _covariates_at(enc, val)
    scored = [Scored(np.zeros(len(lbl.rows)), x, lbl.label) for lbl, x in zip(aux, x_train,
              strict=True)]  # fmt: skip
    best: tuple[float, float, F64, float] = (np.inf, 0.0, np.zeros(0), 0.0)
    for c in COVARIATE_C_GRID:
        w, w0 = fit_term(scored, c)
        p = 1.0 / (1.0 + np.exp(-(x_val @ w + w0)))
        loss = float(log_loss(val.label, p, labels=[False, True]))
        if loss < best[0]:
            best = (loss, c, w, w0)
    _, c, w, w0 = best
    return Offsets(tuple(x @ w + w0 for x in x_train), x_val @ w + w0, c)
