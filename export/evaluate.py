"""Model vs baselines on the test period; everything tuned/calibrated on validation only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from export import baselines as bl
from export.calibrate import fit_platt
from export.dataset import EncodedLog
from export.labels import CutoffLabels, Split, cutoff_labels
from export.metrics import concordance_index, recall_at_k, return_metrics
from export.train import HeadArrays
from stream_app.model.survival import Calibration, category_intensity, return_probability

F64 = npt.NDArray[np.float64]
CATEGORY_HALF_LIVES = (3.0, 7.0, 14.0, 30.0, 60.0, 120.0, 365.0, 3650.0)


@dataclass
class Evaluation:
    """Test metrics per predictor, chosen hyper-parameters, and what the plots need."""

    return_rows: dict[str, dict[str, float]] = field(default_factory=dict)
    category_rows: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    test_label: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    test_prob: dict[str, F64] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)


def _test_row(lbl: CutoffLabels, prob: F64) -> dict[str, float]:
    row = return_metrics(lbl.label, prob)
    row["c_index"] = concordance_index(lbl.return_days, lbl.label, prob)
    return row


def _return_baselines(
    enc: EncodedLog, split: Split, val: CutoffLabels, test: CutoffLabels, seed: int, ev: Evaluation
) -> None:
    horizon = split.horizon_days
    train = [cutoff_labels(enc, c, horizon) for c in split.train_cutoffs]
    tx = np.concatenate([bl.rfm_features(enc, t) for t in train])
    ty = np.concatenate([t.label for t in train])
    ttau = np.concatenate([t.tau_days for t in train])
    vx, testx = bl.rfm_features(enc, val), bl.rfm_features(enc, test)
    data = (tx, ty, vx, val.label)
    ev.counts["train_examples"] = len(ty)
    fitted = [
        bl.fit_recency(tx, ty),
        bl.fit_exp_decay(ttau, ty, val.tau_days, val.label),
        bl.fit_logistic(data),
        bl.fit_gbm(data, seed),
    ]
    for f in fitted:
        cal = fit_platt(f.predict(vx, val.tau_days), val.label)
        prob = cal.apply(f.predict(testx, test.tau_days))
        ev.return_rows[f.name] = _test_row(test, prob)
        ev.test_prob[f.name] = prob
        ev.params[f.name] = {**f.params, "platt_a": cal.a, "platt_b": cal.b}


def _tune_half_life(enc: EncodedLog, val: CutoffLabels, personal: bool) -> float:
    sel = val.label & (val.next_bucket > 0)
    best = max(
        CATEGORY_HALF_LIVES,
        key=lambda h: recall_at_k(
            bl.category_scores(enc, val, h, personal)[sel], val.next_bucket[sel]
        ),
    )
    return float(best)


def _category_rows(
    enc: EncodedLog, val: CutoffLabels, test: CutoffLabels, heads: HeadArrays, ev: Evaluation
) -> None:
    sel = test.label & (test.next_bucket > 0)
    target = test.next_bucket[sel]
    lam = category_intensity(heads.mu, heads.alpha, heads.beta, heads.pi, test.tau_days)
    ev.category_rows["model"] = recall_at_k(lam[sel], target)
    for name, personal in (("popularity", False), ("personal_decayed_frequency", True)):
        hl = _tune_half_life(enc, val, personal)
        ev.params[name] = {"half_life_days": hl}
        ev.category_rows[name] = recall_at_k(
            bl.category_scores(enc, test, hl, personal)[sel], target
        )
    ev.counts["category_test_users"] = int(sel.sum())


def evaluate(
    enc: EncodedLog,
    split: Split,
    heads_val: HeadArrays,
    heads_test: HeadArrays,
    calibration: Calibration,
    seed: int,
) -> Evaluation:
    """All test metrics: the model (calibrated on val) and every baseline."""
    horizon = split.horizon_days
    val = cutoff_labels(enc, split.val_cutoff, horizon)
    test = cutoff_labels(enc, split.test_cutoff, horizon)
    ev = Evaluation(test_label=test.label)
    raw = return_probability(
        heads_test.mu, heads_test.alpha, heads_test.beta, test.tau_days, horizon
    )
    ev.test_prob["model_uncalibrated"] = raw
    ev.return_rows["model_uncalibrated"] = _test_row(test, raw)
    ev.test_prob["model"] = calibration.apply(raw)
    ev.return_rows["model"] = _test_row(test, ev.test_prob["model"])
    _return_baselines(enc, split, val, test, seed, ev)
    _category_rows(enc, val, test, heads_test, ev)
    ev.counts.update(
        val_users=len(val.rows),
        val_positive_rate=float(val.label.mean()),
        test_users=len(test.rows),
        test_positive_rate=float(test.label.mean()),
    )
    return ev


def targets(ev: Evaluation) -> dict[str, dict[str, float | bool]]:
    """The issue's acceptance targets, checked against the test numbers."""
    rows, model = ev.return_rows, ev.return_rows["model"]
    base = {k: v for k, v in rows.items() if not k.startswith("model")}
    gbm, rec = rows["rfm_gbm"]["roc_auc"], rows["recency"]["roc_auc"]
    best_brier = min(v["brier"] for v in base.values())
    cat_base = max(v for k, v in ev.category_rows.items() if k != "model")
    checks = {
        "roc_auc_vs_gbm": (model["roc_auc"], gbm + 0.01, model["roc_auc"] >= gbm + 0.01),
        "roc_auc_vs_recency": (model["roc_auc"], rec + 0.05, model["roc_auc"] >= rec + 0.05),
        "brier_vs_best": (model["brier"], best_brier, model["brier"] <= best_brier),
        "ece": (model["ece"], 0.02, model["ece"] <= 0.02),
        "recall_at_10": (
            ev.category_rows["model"],
            1.05 * cat_base,
            ev.category_rows["model"] >= 1.05 * cat_base,
        ),
    }
    return {k: {"value": v, "target": t, "met": bool(m)} for k, (v, t, m) in checks.items()}
