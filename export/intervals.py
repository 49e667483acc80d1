"""Paired bootstrap intervals of model − baseline differences, and metrics by user segment."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.metrics import brier_score_loss, roc_auc_score

F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]
Metric = Callable[[Bool, F64], float]
METRICS: dict[str, Metric] = {
    "roc_auc": lambda y, p: float(roc_auc_score(y, p)),
    "brier": lambda y, p: float(brier_score_loss(y, p)),
}


@dataclass(frozen=True)
class Cutoff:
    """One test cutoff's labels and the two predictors' probabilities."""

    label: Bool
    model: F64
    baseline: F64


def difference_interval(
    cutoffs: Sequence[Cutoff], metric: str, resamples: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Mean over cutoffs of metric(model) − metric(baseline) and its 95% paired bootstrap
    interval (users resampled with replacement within each cutoff, the same draw for both)."""
    f = METRICS[metric]
    point = float(np.mean([f(c.label, c.model) - f(c.label, c.baseline) for c in cutoffs]))
    rng = np.random.default_rng(seed)
    draws = np.zeros(resamples)
    for c in cutoffs:
        n = len(c.label)
        for i in range(resamples):
            idx = rng.integers(0, n, n)
            y = c.label[idx]
            if y.all() or not y.any():
                continue
            draws[i] += (f(y, c.model[idx]) - f(y, c.baseline[idx])) / len(cutoffs)
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return {"difference": point, "low": float(lo), "high": float(hi)}


SEGMENTS = ("one-time", "repeat τ<0.5·gap", "repeat 0.5–1.5·gap", "repeat 1.5–3·gap",
            "repeat >3·gap")  # fmt: skip


def segment_of(visits_before: F64, tau_days: F64, usual_gap_days: F64) -> npt.NDArray[np.str_]:
    """Segment name per user: one-time, or repeat by silence relative to the usual gap."""
    ratio = tau_days / np.maximum(usual_gap_days, 1e-9)
    bins = np.digitize(ratio, [0.5, 1.5, 3.0])
    names = np.array(SEGMENTS[1:])[bins]
    out: npt.NDArray[np.str_] = np.where(visits_before <= 1, SEGMENTS[0], names)
    return out


def segment_table(
    segments: npt.NDArray[np.str_], label: Bool, probs: dict[str, F64]
) -> list[dict[str, float | str]]:
    """Per segment: users, return rate, ROC-AUC and Brier of each predictor (pooled cutoffs)."""
    rows: list[dict[str, float | str]] = []
    for name in SEGMENTS:
        sel = segments == name
        if not sel.any():
            continue
        row: dict[str, float | str] = {"segment": name, "users": int(sel.sum()),
                                       "positive_rate": float(label[sel].mean())}  # fmt: skip
        for pred, p in probs.items():
            both = label[sel].any() and not label[sel].all()
            row[f"{pred}_roc_auc"] = float(roc_auc_score(label[sel], p[sel])) if both else np.nan
            row[f"{pred}_brier"] = float(brier_score_loss(label[sel], p[sel]))
        rows.append(row)
    return rows
