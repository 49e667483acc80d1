"""Evaluation report (Markdown + PNG plots) and the model card, written from the metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_curve

from export.evaluate import Evaluation
from export.labels import CutoffLabels
from export.train import HeadArrays
from stream_app.model.survival import Calibration, return_probability

REPRODUCE = "python -m export train --data online-retail --out models"
_COLS = ("roc_auc", "pr_auc", "brier", "ece", "c_index")


def _plot_roc(out: Path, ev: Evaluation) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, prob in ev.test_prob.items():
        fpr, tpr, _ = roc_curve(ev.test_label, prob)
        ax.plot(fpr, tpr, label=f"{name} ({ev.return_rows[name]['roc_auc']:.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, test")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def _plot_calibration(out: Path, ev: Evaluation) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    for name in ("model", "model_uncalibrated", "rfm_gbm"):
        frac, mean = calibration_curve(ev.test_label, ev.test_prob[name], n_bins=10)
        ax.plot(mean, frac, "o-", label=name, ms=3)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="predicted P(return within H)", ylabel="observed rate", title="Calibration")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def _plot_decay(
    out: Path, heads: HeadArrays, test: CutoffLabels, cal: Calibration, horizon: float
) -> None:
    """P(return within H | silent τ) of a few real test users (by history length quantile)."""
    order = np.argsort(test.position, kind="stable")
    picks = order[np.linspace(0, len(order) - 1, 5).astype(int)[1:]]
    grid = np.linspace(0.0, 180.0, 181)
    fig, ax = plt.subplots(figsize=(6, 4))
    for i in picks:
        p = return_probability(
            np.repeat(heads.mu[i : i + 1], len(grid), 0),
            np.repeat(heads.alpha[i : i + 1], len(grid), 0),
            np.repeat(heads.beta[i : i + 1], len(grid), 0),
            grid,
            horizon,
            cal,
        )
        line = ax.plot(grid, p, label=f"{test.position[i] + 1} events, returned={test.label[i]}")
        ax.axvline(test.tau_days[i], color=line[0].get_color(), ls=":", lw=0.8)
    ax.set(xlabel="silence τ (days)", ylabel=f"P(return within {horizon:g} d)", ylim=(0, 1))
    ax.set_title("Decay curves of test users (dotted: silence at the test cutoff)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def metrics_table(metrics: dict[str, Any]) -> str:
    """Markdown table: model and every baseline on the test period."""
    rows = metrics["test"]["return_within_h"]
    cats = metrics["test"]["next_category_recall_at_10"]
    head = "| predictor | ROC-AUC | PR-AUC | Brier | ECE | C-index | next-cat Recall@10 |"
    lines = [head, "|" + "---|" * 7]
    for name, row in rows.items():
        rec = cats.get(name.removesuffix("_uncalibrated"), None)
        rec_s = f"{rec:.4f}" if rec is not None and name == "model" else "–"
        lines.append(f"| {name} | " + " | ".join(f"{row[c]:.4f}" for c in _COLS) + f" | {rec_s} |")
    for name, rec in cats.items():
        if name != "model":
            lines.append(f"| {name} | – | – | – | – | – | {rec:.4f} |")
    return "\n".join(lines)


def targets_table(metrics: dict[str, Any]) -> str:
    """Markdown table of the acceptance targets."""
    lines = ["| target | model | needed | met |", "|---|---|---|---|"]
    for name, t in metrics["targets"].items():
        sign = "≤" if name in ("brier_vs_best", "ece") else "≥"
        met = "yes" if t["met"] else "**no**"
        lines.append(f"| {name} | {t['value']:.4f} | {sign} {t['target']:.4f} | {met} |")
    return "\n".join(lines)


def write_report(
    out_dir: Path,
    metrics: dict[str, Any],
    ev: Evaluation,
    heads_test: HeadArrays,
    test: CutoffLabels,
    cal: Calibration,
) -> None:
    """EVALUATION.md with plots beside it."""
    horizon = float(metrics["split"]["horizon_days"])
    _plot_roc(out_dir / "roc.png", ev)
    _plot_calibration(out_dir / "calibration.png", ev)
    _plot_decay(out_dir / "decay_curves.png", heads_test, test, cal, horizon)
    split, data = metrics["split"], metrics["data"]
    text = f"""# Evaluation: interest-decay model `{metrics["model_version"]}`

Reproduce: `{REPRODUCE}`

Return-within-{horizon:g}-days at the test cutoff {split["test_cutoff"]}
({data["test_users"]} users with history, {data["test_positive_rate"]:.1%} returned).
Validation cutoff {split["val_cutoff"]} ({data["val_users"]} users) tuned every baseline,
early-stopped the model and fitted every Platt recalibration (model and baselines alike).
Next-category Recall@10 over {data["category_test_users"]} test users who returned
(target = hashed category bucket of their first event after the cutoff). `model` is the served
ranking (head blended with the user's last {metrics["category_blend"]["recent_events"]} categories, blend tuned on validation:
`{metrics["category_blend"]}`); `model_head_only` ranks by the head's λ_k(τ) alone.

{metrics_table(metrics)}

## Targets

{targets_table(metrics)}

ONNX `score` path vs PyTorch evaluation, max |Δp| on test: {metrics["onnx_score_max_abs_diff"]:.2e}

![ROC](roc.png) ![calibration](calibration.png)

![decay curves](decay_curves.png)

Tuned parameters (validation only): `{metrics["tuned_parameters"]}`
"""
    (out_dir / "EVALUATION.md").write_text(text)
