"""Evaluation metrics: discrimination, calibration, return-time ranking, next-category recall."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]


def expected_calibration_error(label: Bool, prob: F64, bins: int = 10) -> float:
    """ECE with equal-width probability bins, weighted by bin size."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(prob, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            total += sel.mean() * abs(float(prob[sel].mean()) - float(label[sel].mean()))
    return total


def concordance_index(time: F64, observed: Bool, risk: F64) -> float:
    """Harrell's C: a higher risk should mean an earlier (observed) return."""
    order = np.argsort(time, kind="stable")
    t, e, r = time[order], observed[order], risk[order]
    num = den = 0.0
    for i in np.flatnonzero(e):
        later = t > t[i]
        den += later.sum()
        num += (r[i] > r[later]).sum() + 0.5 * (r[i] == r[later]).sum()
    return num / den if den else float("nan")


def recall_at_k(scores: F64, target: npt.NDArray[np.int64], k: int = 10) -> float:
    """Share of rows whose target column is among the k highest scores (ties by index)."""
    if len(target) == 0:
        return float("nan")
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float((top == target[:, None]).any(axis=1).mean())


def return_metrics(label: Bool, prob: F64) -> dict[str, float]:
    """ROC-AUC, PR-AUC, Brier and ECE of return-within-H probabilities."""
    return {
        "roc_auc": float(roc_auc_score(label, prob)),
        "pr_auc": float(average_precision_score(label, prob)),
        "brier": float(brier_score_loss(label, prob)),
        "ece": expected_calibration_error(label, prob),
    }
