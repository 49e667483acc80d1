"""Honest baselines on the same split and labels, each tuned on validation only."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from export.dataset import EncodedLog
from export.labels import CutoffLabels
from stream_app.clock import SECONDS_PER_DAY
from stream_app.events.schema import EventType
from stream_app.model.contract import CATEGORY_BUCKETS
from stream_app.model.features import event_type_index

F64 = npt.NDArray[np.float64]
HALF_LIVES_DAYS = (7.0, 30.0, 90.0)
FEATURE_NAMES = (
    "log_recency", "log_tenure", "log_events", "log_purchases", "log_cancels", "log_spend",
    "log_mean_basket", "log_mean_gap", "events_30d", "events_90d",
    *(f"decayed_{int(h)}d" for h in HALF_LIVES_DAYS),
)  # fmt: skip


def _per_user(values: F64, enc: EncodedLog) -> F64:
    out: F64 = np.add.reduceat(values, enc.starts[:-1]) if len(values) else np.zeros(0)
    return out


def rfm_features(enc: EncodedLog, lbl: CutoffLabels) -> F64:
    """Recency/frequency/monetary and time-decayed counts at the cutoff, (users, features)."""
    ts, t0 = enc.log.ts_seconds, lbl.cutoff_seconds
    before = (ts < t0).astype(np.float64)
    age = np.where(before > 0, (t0 - ts) / SECONDS_PER_DAY, np.inf)
    purchase = before * (enc.event_type == event_type_index(EventType.PURCHASE))
    cancel = before * (enc.event_type == event_type_index(EventType.CANCEL))
    spend = np.nan_to_num(enc.log.price) * purchase
    n = _per_user(before, enc)[lbl.rows]
    n_buy = _per_user(purchase, enc)[lbl.rows]
    tenure = age[enc.starts[lbl.rows]]
    cols = [
        np.log1p(lbl.tau_days),
        np.log1p(tenure),
        np.log1p(n),
        np.log1p(n_buy),
        np.log1p(_per_user(cancel, enc)[lbl.rows]),
        np.log1p(np.maximum(_per_user(spend, enc)[lbl.rows], 0.0)),
        np.log1p(np.maximum(_per_user(spend, enc)[lbl.rows], 0.0) / np.maximum(n_buy, 1.0)),
        np.log1p((tenure - lbl.tau_days) / np.maximum(n - 1, 1.0)),
        _per_user((age < 30).astype(np.float64), enc)[lbl.rows],
        _per_user((age < 90).astype(np.float64), enc)[lbl.rows],
        *(_per_user(np.exp(-age / h), enc)[lbl.rows] for h in HALF_LIVES_DAYS),
    ]
    return np.stack(cols, axis=1)


@dataclass(frozen=True)
class Fitted:
    """A tuned baseline: its name, chosen hyper-parameters, and a predictor."""

    name: str
    params: dict[str, float | int | str]
    predict: Callable[[F64, F64], F64]  # (features, tau_days) -> probability


def _stack(xs: list[F64]) -> F64:
    return np.concatenate(xs, axis=0)


def fit_recency(train_x: F64, train_y: npt.NDArray[np.bool_]) -> Fitted:
    """Logistic regression on log recency alone (its ranking = recency)."""
    model = LogisticRegression().fit(train_x[:, :1], train_y)
    return Fitted("recency", {}, lambda x, _t: model.predict_proba(x[:, :1])[:, 1])


def fit_exp_decay(
    train_tau: F64, train_y: npt.NDArray[np.bool_], val_tau: F64, val_y: npt.NDArray[np.bool_]
) -> Fitted:
    """p = a·exp(−τ/half_life); a by least squares on train, half-life by val log-loss."""
    best: tuple[float, float, float] = (np.inf, 1.0, 1.0)
    for hl in np.geomspace(3.0, 720.0, 40):
        e = np.exp(-train_tau / hl)
        a = float(np.clip((train_y * e).sum() / (e * e).sum(), 1e-4, 1.0))
        loss = log_loss(val_y, np.clip(a * np.exp(-val_tau / hl), 1e-4, 1 - 1e-4))
        best = min(best, (loss, float(hl), a))
    _, hl_best, a_best = best
    return Fitted(
        "exp_decay",
        {"half_life_days": round(hl_best, 2), "scale": round(a_best, 4)},
        lambda _x, t: np.clip(a_best * np.exp(-t / hl_best), 1e-4, 1 - 1e-4),
    )


def _tune(
    name: str,
    grid: list[dict[str, float | int | str]],
    make: Callable[[dict[str, float | int | str]], object],
    data: tuple[F64, npt.NDArray[np.bool_], F64, npt.NDArray[np.bool_]],
) -> Fitted:
    """Fit every grid point on train, keep the best validation ROC-AUC."""
    tx, ty, vx, vy = data
    best: tuple[float, int, object] = (-1.0, 0, None)
    for i, params in enumerate(grid):
        model = make(params)
        model.fit(tx, ty)  # type: ignore[attr-defined]
        auc = float(roc_auc_score(vy, model.predict_proba(vx)[:, 1]))  # type: ignore[attr-defined]
        if auc > best[0]:
            best = (auc, i, model)
    chosen = best[2]
    return Fitted(name, grid[best[1]], lambda x, _t: chosen.predict_proba(x)[:, 1])  # type: ignore[attr-defined]


def fit_logistic(data: tuple[F64, npt.NDArray[np.bool_], F64, npt.NDArray[np.bool_]]) -> Fitted:
    """Standardised RFM + decayed counts → logistic regression, C tuned on validation."""
    grid: list[dict[str, float | int | str]] = [{"C": c} for c in (0.01, 0.1, 1.0, 10.0)]
    return _tune(
        "rfm_logistic",
        grid,
        lambda p: make_pipeline(StandardScaler(), LogisticRegression(C=float(p["C"]))),
        data,
    )


def fit_gbm(
    data: tuple[F64, npt.NDArray[np.bool_], F64, npt.NDArray[np.bool_]], seed: int
) -> Fitted:
    """RFM + decayed counts → HistGradientBoosting, small grid tuned on validation."""
    grid: list[dict[str, float | int | str]] = [
        {"learning_rate": lr, "max_leaf_nodes": leaves, "min_samples_leaf": leaf, "max_iter": it}
        for lr, leaves, leaf, it in itertools.product((0.03, 0.1), (7, 15), (20, 80), (100, 300))
    ]
    return _tune(
        "rfm_gbm",
        grid,
        lambda p: HistGradientBoostingClassifier(
            learning_rate=float(p["learning_rate"]),
            max_leaf_nodes=int(p["max_leaf_nodes"]),
            min_samples_leaf=int(p["min_samples_leaf"]),
            max_iter=int(p["max_iter"]),
            early_stopping=False,
            random_state=seed,
        ),
        data,
    )


def category_scores(
    enc: EncodedLog, lbl: CutoffLabels, half_life_days: float, personal: bool
) -> F64:
    """Time-decayed category frequency at the cutoff: personal (with popularity backfill) or global."""
    ts, t0 = enc.log.ts_seconds, lbl.cutoff_seconds
    before = ts < t0
    weight = np.where(before, np.exp(-(t0 - ts) / SECONDS_PER_DAY / half_life_days), 0.0)
    popularity = np.bincount(enc.category_bucket, weight, CATEGORY_BUCKETS).astype(np.float64)
    popularity[0] = 0.0
    popularity /= max(popularity.sum(), 1e-12)
    scores = np.tile(popularity, (len(lbl.rows), 1))
    if personal:
        user_of_event = np.repeat(np.arange(len(enc.users)), enc.lengths)
        where = {int(r): i for i, r in enumerate(lbl.rows)}
        sel = np.isin(user_of_event, lbl.rows) & before
        rows = np.array([where[int(u)] for u in user_of_event[sel]], np.int64)
        personal_counts = np.zeros_like(scores)
        np.add.at(personal_counts, (rows, enc.category_bucket[sel]), weight[sel])
        scores = personal_counts + 1e-6 * scores
    return scores
