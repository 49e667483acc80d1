"""Rolling-origin evaluation: one model per test cutoff, summaries, intervals, targets."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from export.calibrate import Scored, Stack, fit_stack, history_at
from export.dataset import EncodedLog, visit_starts
from export.evaluate import Evaluation, evaluate
from export.intervals import Cutoff, difference_interval, segment_of, segment_table
from export.labels import CutoffLabels, Split, cutoff_labels
from export.model import DecayModel, ModelConfig
from export.served import served_probability
from export.train import HeadArrays, TrainConfig, heads_at_cutoff, predict_return, train_model
from stream_app.clock import SECONDS_PER_DAY
from stream_app.model.covariates import History, covariates
from stream_app.model.survival import Calibration

F64 = npt.NDArray[np.float64]
MODEL = "model"
#: The ablations of every report: the same stacked fit without one part (head, covariates).
ABLATIONS = {"model_covariates_only": (False, True), "model_sequence_only": (True, False)}
log = logging.getLogger(__name__)


@dataclass
class Trained:
    """A model trained for one split, its calibration and its heads at val and test."""

    split: Split
    model: DecayModel
    history: list[dict[str, float]]
    stack: Stack
    val: CutoffLabels
    heads_val: HeadArrays
    history_val: History
    scored_train: list[Scored] = field(default_factory=list)
    scored_val: Scored | None = None

    @property
    def calibration(self) -> Calibration:
        """The served map of the stack."""
        return self.stack.calibration()


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
    """Train on the split; fit the covariate term on its training cutoffs and the head's weight
    with it on its validation cutoff (`export.calibrate.fit_stack`, the one procedure of every
    fit)."""
    model, history = train_model(enc, split, mcfg, tcfg, progress)
    horizon = split.horizon_days
    val = cutoff_labels(enc, split.val_cutoff, horizon)
    heads_val, history_val, scored_val = scored_at(model, enc, val, horizon)
    train = [scored_at(model, enc, cutoff_labels(enc, c, horizon), horizon)[2]
             for c in split.train_cutoffs]  # fmt: skip
    stack = fit_stack(train, scored_val)
    log.info("calibration fitted at %s: %s", split.val_cutoff.date(), stack.line())
    return Trained(split, model, history, stack, val, heads_val, history_val, train, scored_val)


@dataclass
class Origin:
    """One test cutoff: its evaluation (model and baselines) and what the summaries need."""

    trained: Trained
    test: CutoffLabels
    heads_test: HeadArrays
    history_test: History
    ev: Evaluation
    ablations: dict[str, Stack] = field(default_factory=dict)
    score_gap: float = 0.0  # max |p| of `score` on the ONNX graph vs the PyTorch path


def evaluate_origin(
    enc: EncodedLog, split: Split, mcfg: ModelConfig, tcfg: TrainConfig, progress: bool
) -> Origin:
    """Train for one test cutoff and evaluate the model (exported to ONNX and scored by `score`),
    its ablations and every baseline there."""
    trained = train_for(enc, split, mcfg, tcfg, progress)
    horizon = split.horizon_days
    test = cutoff_labels(enc, split.test_cutoff, horizon)
    heads_test, history_test, scored_test = scored_at(trained.model, enc, test, horizon)
    served = served_probability(trained.model, trained.calibration, horizon, enc.log,
                                enc.users[test.rows], test.cutoff_seconds)  # fmt: skip
    torch_p = trained.stack.predict(scored_test)
    gap = float(np.max(np.abs(served - torch_p)))
    assert trained.scored_val is not None
    ablations = {name: fit_stack(trained.scored_train, trained.scored_val, h, c)
                 for name, (h, c) in ABLATIONS.items()}  # fmt: skip
    for name, st in ablations.items():
        log.info("ablation %s at %s: %s", name, split.val_cutoff.date(), st.line())
    extra = {name: st.predict(scored_test) for name, st in ablations.items()}
    ev = evaluate(enc, split, (trained.heads_val, heads_test), served, extra, tcfg.seed)
    log.info("test cutoff %s: category blend %s; score vs PyTorch max |dp| %.1e",
             split.test_cutoff.date(), ev.params["model_category_blend"], gap)  # fmt: skip
    return Origin(trained, test, heads_test, history_test, ev, ablations, gap)


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


def ablation(origins: list[Origin], seed: int) -> dict[str, Any]:
    """The full model minus each ablation (ROC-AUC, Brier), with paired bootstrap intervals."""
    out: dict[str, Any] = {}
    for name in ABLATIONS:
        pairs = [Cutoff(o.test.label, o.ev.test_prob[MODEL], o.ev.test_prob[name]) for o in origins]
        out[f"full_minus_{name.removeprefix(MODEL + '_')}"] = {
            m: difference_interval(pairs, m, seed=seed) for m in ("roc_auc", "brier")
        }
    out["sequence_adds"] = bool(out["full_minus_covariates_only"]["roc_auc"]["low"] > 0.0)
    return out


def targets(
    origins: list[Origin], comp: dict[str, Any], abl: dict[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
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
    if abl is not None:
        seq_low = abl["full_minus_covariates_only"]["roc_auc"]["low"]
        checks["full_minus_covariates_only_interval_above_0"] = (seq_low, 0.0, seq_low > 0.0)
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
