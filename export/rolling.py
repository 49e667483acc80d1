"""Rolling-origin evaluation: one model per test cutoff, summaries, intervals, targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from export.calibrate import Scored, fit_with_covariates, history_at
from export.dataset import EncodedLog, visit_starts
from export.evaluate import Evaluation, evaluate
from export.intervals import Cutoff, difference_interval, segment_of, segment_table
from export.labels import CutoffLabels, Split, cutoff_labels
from export.model import DecayModel, ModelConfig
from export.train import HeadArrays, TrainConfig, heads_at_cutoff, predict_return, train_model
from stream_app.clock import SECONDS_PER_DAY
from stream_app.model.covariates import History, covariates
from stream_app.model.survival import Calibration

F64 = npt.NDArray[np.float64]
MODEL = "model"


@dataclass
class Trained:
    """A model trained for one split, its calibration and its heads at val and test."""

    split: Split
    model: DecayModel
    history: list[dict[str, float]]
    calibration: Calibration
    val: CutoffLabels
    heads_val: HeadArrays
    history_val: History


def scored_at(
    model: DecayModel, enc: EncodedLog, lbl: CutoffLabels, horizon: float
) -> tuple[HeadArrays, History, Scored]:
    """The heads, the covariate history and the raw P of the labelled users at one cutoff."""
    heads = heads_at_cutoff(model, enc, lbl)
    history = history_at(enc, lbl)
    p_raw = predict_return(heads, lbl.tau_days, horizon)
    return heads, history, Scored(p_raw, covariates(history, lbl.tau_days), lbl.label)


def train_for(
    enc: EncodedLog, split: Split, mcfg: ModelConfig, tcfg: TrainConfig, progress: bool
) -> Trained:
    """Train on the split; fit the covariate term on its training cutoffs and calibrate on its
    validation cutoff (`export.calibrate.fit_with_covariates`)."""
    model, history = train_model(enc, split, mcfg, tcfg, progress)
    horizon = split.horizon_days
    val = cutoff_labels(enc, split.val_cutoff, horizon)
    heads_val, history_val, scored_val = scored_at(model, enc, val, horizon)
    train = [scored_at(model, enc, cutoff_labels(enc, c, horizon), horizon)[2]
             for c in split.train_cutoffs]  # fmt: skip
    cal = fit_with_covariates(train, scored_val)
    return Trained(split, model, history, cal, val, heads_val, history_val)


@dataclass
class Origin:
    """One test cutoff: its evaluation (model and baselines) and what the summaries need."""

    trained: Trained
    test: CutoffLabels
    heads_test: HeadArrays
    history_test: History
    ev: Evaluation


def evaluate_origin(
    enc: EncodedLog, split: Split, mcfg: ModelConfig, tcfg: TrainConfig, progress: bool
) -> Origin:
    """Train for one test cutoff and evaluate the model and every baseline there."""
    trained = train_for(enc, split, mcfg, tcfg, progress)
    test = cutoff_labels(enc, split.test_cutoff, split.horizon_days)
    heads_test, history_test, scored_test = scored_at(trained.model, enc, test, split.horizon_days)
    ev = evaluate(enc, split, (trained.heads_val, heads_test), scored_test.covariates,
                  trained.calibration, tcfg.seed)  # fmt: skip
    return Origin(trained, test, heads_test, history_test, ev)


def mean_rows(origins: list[Origin]) -> dict[str, dict[str, float]]:
    """Per predictor, each metric's mean over the test cutoffs."""
    names = origins[0].ev.return_rows.keys()
    return {
        n: {m: float(np.mean([o.ev.return_rows[n][m] for o in origins])) for m in row}
        for n, row in ((n, origins[0].ev.return_rows[n]) for n in names)
    }


def best_baselines(means: dict[str, dict[str, float]]) -> tuple[str, str]:
    """Baselines with the best mean ROC-AUC and the best mean Brier."""
    base = {k: v for k, v in means.items() if not k.startswith(MODEL)}
    return max(base, key=lambda k: base[k]["roc_auc"]), min(base, key=lambda k: base[k]["brier"])


def comparisons(origins: list[Origin], seed: int) -> dict[str, Any]:
    """Bootstrap intervals of the model's differences to the best baselines."""
    auc_base, brier_base = best_baselines(mean_rows(origins))

    def pairs(base: str) -> list[Cutoff]:
        return [Cutoff(o.test.label, o.ev.test_prob[MODEL], o.ev.test_prob[base]) for o in origins]

    return {
        "best_auc_baseline": auc_base,
        "best_brier_baseline": brier_base,
        "roc_auc": difference_interval(pairs(auc_base), "roc_auc", seed=seed),
        "brier": difference_interval(pairs(brier_base), "brier", seed=seed),
    }


def targets(origins: list[Origin], comp: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The issue's checks on the mean over test cutoffs (and on every cutoff's ECE)."""
    means = mean_rows(origins)
    model, auc_b = means[MODEL], means[comp["best_auc_baseline"]]
    brier_b = means[comp["best_brier_baseline"]]["brier"]
    worst_ece = max(o.ev.return_rows[MODEL]["ece"] for o in origins)
    low = comp["roc_auc"]["low"]
    checks = {
        "roc_auc_vs_best_plus_0.01": (model["roc_auc"], auc_b["roc_auc"] + 0.01,
                                      model["roc_auc"] >= auc_b["roc_auc"] + 0.01),
        "roc_auc_difference_interval_above_0": (low, 0.0, low > 0.0),
        "brier_vs_best": (model["brier"], brier_b, model["brier"] <= brier_b),
        "ece_every_cutoff": (worst_ece, 0.02, worst_ece <= 0.02),
    }  # fmt: skip
    return {k: {"value": v, "target": t, "met": bool(m)} for k, (v, t, m) in checks.items()}


def segments(enc: EncodedLog, origins: list[Origin], baseline: str) -> list[dict[str, Any]]:
    """Metrics by segment, pooled over the test cutoffs."""
    names, labels, model, base = [], [], [], []
    visit = visit_starts(enc)
    for o in origins:
        t = o.test
        before = visit & (enc.log.ts_seconds < t.cutoff_seconds)
        n = np.add.reduceat(before.astype(np.float64), enc.starts[:-1])[t.rows]
        first = enc.log.ts_seconds[enc.starts[t.rows]]
        last_visit = np.maximum.reduceat(np.where(before, enc.log.ts_seconds, -np.inf),
                                         enc.starts[:-1])[t.rows]  # fmt: skip
        gap = (last_visit - first) / SECONDS_PER_DAY / np.maximum(n - 1, 1)
        names.append(segment_of(n, t.tau_days, gap))
        labels.append(t.label)
        model.append(o.ev.test_prob[MODEL])
        base.append(o.ev.test_prob[baseline])
    probs = {MODEL: np.concatenate(model), baseline: np.concatenate(base)}
    return segment_table(np.concatenate(names), np.concatenate(labels), probs)
