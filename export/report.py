"""Evaluation report (Markdown + PNG plots), written from the metrics of a rolling-origin run."""

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
from export.rolling import Origin
from stream_app.model.covariates import covariates
from stream_app.model.survival import return_probability

REPRODUCE = "python -m export train --data online-retail --out models"
_COLS = ("roc_auc", "pr_auc", "brier", "ece", "c_index")


def _plot_roc(out: Path, ev: Evaluation) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, prob in ev.test_prob.items():
        fpr, tpr, _ = roc_curve(ev.test_label, prob)
        ax.plot(fpr, tpr, label=f"{name} ({ev.return_rows[name]['roc_auc']:.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(
        xlabel="false positive rate", ylabel="true positive rate", title="ROC, latest test cutoff"
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def _plot_calibration(out: Path, ev: Evaluation, baseline: str) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    for name in ("model", "model_uncalibrated", baseline):
        frac, mean = calibration_curve(ev.test_label, ev.test_prob[name], n_bins=10)
        ax.plot(mean, frac, "o-", label=name, ms=3)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="predicted P(return within H)", ylabel="observed rate", title="Calibration")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def _plot_decay(out: Path, last: Origin, horizon: float) -> None:
    """P(return within H | silent τ) of a few real test users (by history length quantile)."""
    heads, test, cal = last.heads_test, last.test, last.trained.calibration
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
            heads.shape,
            covariates(last.history_test.take(np.full(len(grid), i)), grid),
        )
        line = ax.plot(grid, p, label=f"{test.position[i] + 1} events, returned={test.label[i]}")
        ax.axvline(test.tau_days[i], color=line[0].get_color(), ls=":", lw=0.8)
    ax.set(xlabel="silence τ (days)", ylabel=f"P(return within {horizon:g} d)", ylim=(0, 1))
    ax.set_title("Decay curves of test users (dotted: silence at the test cutoff)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def _f(x: float) -> str:
    return "–" if x != x else f"{x:.4f}"  # NaN-safe


def cutoff_tables(metrics: dict[str, Any]) -> str:
    """Markdown: per test cutoff, every predictor's ROC-AUC, PR-AUC, Brier, ECE, C-index."""
    parts = []
    for c in metrics["test"]["by_cutoff"]:
        head = (f"**Test cutoff {c['test_cutoff'][:10]}** (validation {c['val_cutoff'][:10]}, "
                f"{c['test_users']} users, {c['test_positive_rate']:.1%} returned)")  # fmt: skip
        lines = [head, "", "| predictor | ROC-AUC | PR-AUC | Brier | ECE | C-index |",
                 "|" + "---|" * 6]  # fmt: skip
        for name, row in c["return_within_h"].items():
            lines.append(f"| {name} | " + " | ".join(_f(row[k]) for k in _COLS) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def metrics_table(metrics: dict[str, Any]) -> str:
    """Markdown: each predictor's metrics averaged over the test cutoffs."""
    lines = ["| predictor (mean over test cutoffs) | ROC-AUC | PR-AUC | Brier | ECE | C-index |",
             "|" + "---|" * 6]  # fmt: skip
    for name, row in metrics["test"]["mean"].items():
        lines.append(f"| {name} | " + " | ".join(_f(row[k]) for k in _COLS) + " |")
    return "\n".join(lines)


def comparison_text(metrics: dict[str, Any]) -> str:
    """The model's differences to the best baselines with 95% bootstrap intervals."""
    comp = metrics["comparison"]
    auc, brier = comp["roc_auc"], comp["brier"]
    return (
        f"- ROC-AUC, model − {comp['best_auc_baseline']} (best mean ROC-AUC baseline): "
        f"{auc['difference']:+.4f} [95% CI {auc['low']:+.4f}, {auc['high']:+.4f}]\n"
        f"- Brier, model − {comp['best_brier_baseline']} (best mean Brier baseline): "
        f"{brier['difference']:+.4f} [95% CI {brier['low']:+.4f}, {brier['high']:+.4f}]"
    )


def targets_table(metrics: dict[str, Any]) -> str:
    """Markdown table of the acceptance targets."""
    lines = ["| target | model | needed | met |", "|---|---|---|---|"]
    for name, t in metrics["targets"].items():
        sign = "≤" if name.startswith(("brier", "ece")) else ">" if "interval" in name else "≥"
        met = "yes" if t["met"] else "**no**"
        lines.append(f"| {name} | {t['value']:.4f} | {sign} {t['target']:.4f} | {met} |")
    return "\n".join(lines)


def ablation_text(metrics: dict[str, Any]) -> str:
    """Markdown: the model vs the same fit without its sequence head / without its covariates."""
    abl, means = metrics["ablation"], metrics["test"]["mean"]
    lines = ["| predictor (mean over test cutoffs) | ROC-AUC | Brier | ECE |", "|---|---|---|---|"]
    for name, what in (("model", "full: sequence head + covariates"),
                       ("model_covariates_only", "covariates only (same features and fit)"),
                       ("model_sequence_only", "sequence head only")):  # fmt: skip
        r = means[name]
        lines.append(f"| {what} | {_f(r['roc_auc'])} | {_f(r['brier'])} | {_f(r['ece'])} |")
    for key, label in (("full_minus_covariates_only", "full − covariates only"),
                       ("full_minus_sequence_only", "full − sequence head only")):  # fmt: skip
        auc, brier = abl[key]["roc_auc"], abl[key]["brier"]
        lines.append("")
        lines.append(f"- {label}: ROC-AUC {auc['difference']:+.4f} [95% CI {auc['low']:+.4f}, "
                     f"{auc['high']:+.4f}], Brier {brier['difference']:+.4f} "
                     f"[{brier['low']:+.4f}, {brier['high']:+.4f}]")  # fmt: skip
    auc = abl["full_minus_covariates_only"]["roc_auc"]
    verdict = (
        f"The sequence part adds: the interval of full − covariates only is above 0 "
        f"(low end {auc['low']:+.4f})."
        if abl["sequence_adds"]
        else f"**The sequence part does not add here**: full − covariates only is "
        f"{auc['difference']:+.4f} ROC-AUC [95% CI {auc['low']:+.4f}, {auc['high']:+.4f}], an "
        f"interval that is not above 0; the covariate term alone does about as well."
    )
    return "\n".join(lines) + "\n\n" + verdict


def _score_gaps(metrics: dict[str, Any]) -> str:
    return ", ".join(f"{c['onnx_score_max_abs_diff']:.1e}" for c in metrics["test"]["by_cutoff"])


def fits_table(metrics: dict[str, Any]) -> str:
    """Markdown: what each fit chose (one procedure for every origin and the shipped model)."""
    lines = ["| fit | fitted at | calibration | L2 C | head weight | at floor | term weight | "
             "cross-fitted val log-loss | category blend (weight, half-life d) |",
             "|" + "---|" * 9]  # fmt: skip
    for f in metrics["fits"]:
        head = "–" if f["head_weight"] is None else f"{f['head_weight']:.4f}"
        blend = f["category_blend"]
        lines.append(
            f"| {f['fit']} | {f['fitted_at'][:10]} | {f['kind']} | {f['covariate_c']:g} | {head} | "
            f"{'**yes**' if f['head_weight_at_floor'] else 'no'} | {f['term_weight']:.4f} | "
            f"{f['val_logloss']:.4f} | {blend['weight']:g}, {blend['half_life_days']:g} |"
        )
    return "\n".join(lines)


def segment_table(metrics: dict[str, Any]) -> str:
    """Markdown: ROC-AUC and Brier by segment, model vs the best baseline (pooled cutoffs)."""
    rows = metrics["segments"]
    base = metrics["comparison"]["best_auc_baseline"]
    lines = [f"| segment | users | returned | model AUC | {base} AUC | model Brier | {base} Brier |",
             "|" + "---|" * 7]  # fmt: skip
    for r in rows:
        lines.append(
            f"| {r['segment']} | {r['users']} | {r['positive_rate']:.1%} | "
            f"{_f(r['model_roc_auc'])} | {_f(r[base + '_roc_auc'])} | "
            f"{_f(r['model_brier'])} | {_f(r[base + '_brier'])} |"
        )
    return "\n".join(lines)


def write_report(out_dir: Path, metrics: dict[str, Any], last: Origin) -> None:
    """EVALUATION.md with plots (of the latest test cutoff) beside it."""
    horizon = float(metrics["split"]["horizon_days"])
    ev, best = last.ev, metrics["comparison"]["best_auc_baseline"]
    _plot_roc(out_dir / "roc.png", ev)
    _plot_calibration(out_dir / "calibration.png", ev, best)
    _plot_decay(out_dir / "decay_curves.png", last, horizon)
    split = metrics["split"]
    text = f"""# Evaluation: interest-decay model `{metrics["model_version"]}`

Reproduce: `{metrics.get("reproduce", REPRODUCE)}`

Return within {horizon:g} days (a visit that is not a cancellation) at {len(split["test_cutoffs"])}
rolling test cutoffs. For each test cutoff T a separate model is trained on events before
T − H, early-stopped at the validation cutoff T − H, its stacked calibration
(`export.calibrate.fit_stack`: the covariate term fitted on the training cutoffs, then
σ(a·logit P + c·term + b) fitted at T − H, where the head's P is out of sample; the term's L2
strength chosen by 2-fold cross-fitted log-loss at T − H), and every baseline is
tuned and calibrated there too; no test cutoff is used for any choice. BG/NBD is fitted by
maximum likelihood on the history before each cutoff (it needs no labels).

{metrics_table(metrics)}

{comparison_text(metrics)}

## Targets

{targets_table(metrics)}

## Ablation: does the sequence part add? (paired bootstrap over the test cutoffs' users)

{ablation_text(metrics)}

## What each fit chose (the same procedure at every origin and for the shipped model)

{fits_table(metrics)}

Every model row of a test cutoff is the origin's model exported to ONNX and scored by
`decay-stream score`'s code path (`stream_app.model.scoring.score`); max |Δp| to PyTorch per
cutoff: {_score_gaps(metrics)}.

## By test cutoff

{cutoff_tables(metrics)}

## By segment (pooled over the test cutoffs; gap = the user's mean gap between visits)

{segment_table(metrics)}

ONNX `score` path vs PyTorch at the latest labelled cutoff, max |Δp|: {metrics["onnx_score_max_abs_diff"]:.2e}

![ROC](roc.png) ![calibration](calibration.png)

![decay curves](decay_curves.png)
"""
    (out_dir / "EVALUATION.md").write_text(text)
