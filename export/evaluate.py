"""Model vs baselines on the test period; everything tuned/calibrated on validation only."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from export import baselines as bl
from export import bgnbd
from export.calibrate import fit_platt
from export.dataset import EncodedLog
from export.labels import CutoffLabels, Split, cutoff_labels
from export.metrics import concordance_index, recall_at_k, return_metrics
from export.train import HeadArrays
from stream_app.model.categories import CategoryBlend, blend_scores, decayed_frequency_matrix
from stream_app.model.survival import category_intensity, return_probability

F64 = npt.NDArray[np.float64]
HEAD_ONLY = "model_head_only"  # the raw head's ranking, without the recent-category blend
CATEGORY_HALF_LIVES = (3.0, 7.0, 14.0, 30.0, 60.0, 120.0, 365.0, 3650.0)
BLEND_WEIGHTS = (0.0, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 20.0)
BLEND_HALF_LIVES = (7.0, 30.0, 90.0, 365.0)
RECENT_EVENTS = 50  # the worker's default ring of recent events per user


@dataclass
class Evaluation:
    """Test metrics per predictor, chosen hyper-parameters, and what the plots need."""

    return_rows: dict[str, dict[str, float]] = field(default_factory=dict)
    category_rows: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    test_label: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    test_prob: dict[str, F64] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    category_blend: CategoryBlend = field(default_factory=CategoryBlend)


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
        _record(ev, test, f.name, f.params, f.predict(vx, val.tau_days), val.label,
                f.predict(testx, test.tau_days))  # fmt: skip
    _bgnbd(enc, horizon, val, test, ev)


def _record(
    ev: Evaluation,
    test: CutoffLabels,
    name: str,
    params: dict[str, Any],
    val_prob: F64,
    val_label: npt.NDArray[np.bool_],
    test_prob: F64,
) -> None:
    """Platt-calibrate a baseline on validation, then score it on test."""
    cal = fit_platt(val_prob, val_label)
    prob = cal.apply(test_prob)
    ev.return_rows[name] = _test_row(test, prob)
    ev.test_prob[name] = prob
    ev.params[name] = {**params, "platt_a": cal.a, "platt_b": cal.b}


def _bgnbd(
    enc: EncodedLog, horizon: float, val: CutoffLabels, test: CutoffLabels, ev: Evaluation
) -> None:
    """BG/NBD fitted on the history before each cutoff (no labels), Platt on validation."""
    sv, st = bgnbd.summarise(enc, val), bgnbd.summarise(enc, test)
    at_val, at_test = bgnbd.fit_bgnbd(sv), bgnbd.fit_bgnbd(st)
    params = {k: round(v, 4) for k, v in asdict(at_test).items()}
    _record(ev, test, "bg_nbd", params, at_val.p_return(sv, horizon), val.label,
            at_test.p_return(st, horizon))  # fmt: skip


def _tune_half_life(enc: EncodedLog, val: CutoffLabels, personal: bool) -> float:
    sel = val.label & (val.next_bucket > 0)
    best = max(
        CATEGORY_HALF_LIVES,
        key=lambda h: recall_at_k(
            bl.category_scores(enc, val, h, personal)[sel], val.next_bucket[sel]
        ),
    )
    return float(best)


def recent_frequency(enc: EncodedLog, lbl: CutoffLabels, half_life_days: float) -> F64:
    """(users, K) decayed frequency over each user's last `RECENT_EVENTS` events before the cutoff."""
    first = np.maximum(enc.starts[lbl.rows], lbl.last_index - RECENT_EVENTS + 1)
    counts = lbl.last_index - first + 1
    row = np.repeat(np.arange(len(lbl.rows)), counts)
    offset = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    idx = np.repeat(first, counts) + offset
    now = np.full(len(lbl.rows), lbl.cutoff_seconds)
    return decayed_frequency_matrix(
        row, enc.category_bucket[idx], enc.log.ts_seconds[idx], now, half_life_days
    )


def _blend_recall(
    enc: EncodedLog, lbl: CutoffLabels, heads: HeadArrays, blend: CategoryBlend
) -> float:
    sel = lbl.label & (lbl.next_bucket > 0)
    lam = category_intensity(
        heads.mu, heads.alpha, heads.beta, heads.pi, lbl.tau_days, heads.shape
    )[sel]
    personal = recent_frequency(enc, lbl, blend.half_life_days)[sel]
    return recall_at_k(blend_scores(lam, personal, blend.weight), lbl.next_bucket[sel])


def tune_blend(enc: EncodedLog, val: CutoffLabels, heads_val: HeadArrays) -> CategoryBlend:
    """The served category blend with the best validation Recall@10 (ties: smaller weight)."""
    grid = [CategoryBlend(0.0, 30.0, RECENT_EVENTS)] + [
        CategoryBlend(w, h, RECENT_EVENTS) for w in BLEND_WEIGHTS[1:] for h in BLEND_HALF_LIVES
    ]
    scores = [_blend_recall(enc, val, heads_val, b) for b in grid]
    return grid[int(np.argmax(scores))]


def _category_rows(
    enc: EncodedLog,
    val: CutoffLabels,
    test: CutoffLabels,
    heads: tuple[HeadArrays, HeadArrays],
    ev: Evaluation,
) -> CategoryBlend:
    sel = test.label & (test.next_bucket > 0)
    target = test.next_bucket[sel]
    blend = tune_blend(enc, val, heads[0])
    ev.category_rows["model"] = _blend_recall(enc, test, heads[1], blend)
    ev.params["model_category_blend"] = asdict(blend)
    ev.category_rows[HEAD_ONLY] = _blend_recall(enc, test, heads[1], CategoryBlend())
    for name, personal in (("popularity", False), ("personal_decayed_frequency", True)):
        hl = _tune_half_life(enc, val, personal)
        ev.params[name] = {"half_life_days": hl}
        ev.category_rows[name] = recall_at_k(
            bl.category_scores(enc, test, hl, personal)[sel], target
        )
    ev.counts["category_test_users"] = int(sel.sum())
    return blend


def evaluate(
    enc: EncodedLog,
    split: Split,
    heads: tuple[HeadArrays, HeadArrays],
    model_prob: F64,
    extra: dict[str, F64],
    seed: int,
) -> Evaluation:
    """All test metrics: the model (`model_prob`, as `score` serves it: calibrated on val), the
    raw head, the already calibrated `extra` predictors (the ablations) and every baseline."""
    heads_val, heads_test = heads
    horizon = split.horizon_days
    val = cutoff_labels(enc, split.val_cutoff, horizon)
    test = cutoff_labels(enc, split.test_cutoff, horizon)
    ev = Evaluation(test_label=test.label)
    raw = return_probability(
        heads_test.mu, heads_test.alpha, heads_test.beta, test.tau_days, horizon,
        shape=heads_test.shape,
    )  # fmt: skip
    for name, prob in {"model_uncalibrated": raw, "model": model_prob, **extra}.items():
        ev.test_prob[name] = prob
        ev.return_rows[name] = _test_row(test, prob)
    _return_baselines(enc, split, val, test, seed, ev)
    ev.category_blend = _category_rows(enc, val, test, (heads_val, heads_test), ev)
    ev.counts.update(
        val_users=len(val.rows),
        val_positive_rate=float(val.label.mean()),
        test_users=len(test.rows),
        test_positive_rate=float(test.label.mean()),
    )
    return ev
