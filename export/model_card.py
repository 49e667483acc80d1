"""MODEL_CARD.md, written from metrics.json so the card always matches the artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from export.report import (
    REPRODUCE,
    ablation_text,
    comparison_text,
    fits_table,
    metrics_table,
    segment_table,
    targets_table,
)

#: Hand-kept logs of the validation experiments behind each model (appended to its card).
EXPERIMENTS_DIR = Path(__file__).resolve().parent

DATA_NOTES = {
    "online_retail": (
        "Online Retail (UCI, Daqing Chen; CC BY 4.0), customers with an id only; one invoice = "
        "one `purchase` event, `C…` invoices = `cancel` (a positive refund amount, an input but "
        "never a return), amount = invoice total, category = product-type word of the "
        "description (most frequent in the invoice)."
    ),
    "taobao": (
        "Taobao UserBehavior, complete 9-day histories of 814 users (research use; not in the "
        "repo): pv/cart/fav/buy → view/cart/fav/purchase, category = Taobao category id."
    ),
    "tmall": (
        "Tmall IJCAI-15 user logs, 6-month histories of 709 users (research use; not in the "
        "repo): click/cart/purchase/fav at day resolution, category = Tmall category id."
    ),
}


def _what(metrics: dict[str, Any]) -> str:
    cfg, cal = metrics["model_config"], metrics["calibration"]
    h = float(metrics["split"]["horizon_days"])
    return f"""## What it is
An LSTM over a user's event sequence (event type and hashed category embeddings, log time since
the previous event, time of day / day of week in UTC, log amount, and running RFM-style
aggregates: log event count, log tenure, log mean gap, log spend so far) whose head is a mixture
of {cfg["components"]} gamma-shaped kernels g_r(τ) = μ_r + α_r·(β_r·τ)^k_r·e^(−β_r·τ)/k_r! with fixed
shapes k = {cfg["kernel_shapes"]} (k = 0 is the exponential kernel; k > 0 rises after an event,
peaks at τ = k/β and decays, so the head can represent the refractory dip after a purchase),
each with its own category distribution over {metrics["contract"]["category_buckets"]} hashed buckets.
P(any return within H | silent τ) = 1 − exp(−[Λ(τ+H) − Λ(τ)]) is closed form
(`stream_app/model/survival.py`, regularised incomplete gamma of integer order), then
recalibrated by σ(a·logit(P) + b{" + w·x(τ)" if cal.get("covariates") else ""}), a = {cal["a"]:.4f}, b = {cal["b"]:.4f}{_covariates(cal)}, fitted at the
latest labelled cutoff {cal["fitted_at"][:10]}. Due times are the crossings after the peak of P
(`stream_app/schedule/levels.py`). Hidden size {cfg["hidden_size"]}; horizon H = {h:g} days.

Files: `decay_step.onnx` (one event: features + h, c → new h, c + μ, α, β, π),
`decay_sequence.onnx` (whole sequences, same weights), `metrics.json`, `EVALUATION.md`. Both
graphs carry the feature contract, version, horizon, kernel shapes (`decay_stream.kernel_shapes`),
calibration, category blend and data fingerprint in their ONNX metadata."""


def _covariates(cal: dict[str, Any]) -> str:
    """The covariate term of the calibration, its largest weights first."""
    weights: dict[str, float] = cal.get("covariates") or {}
    if not weights:
        return ""
    top = sorted(weights.items(), key=lambda kv: -abs(kv[1]))[:5]
    named = ", ".join(f"{k} {v:+.3f}" for k, v in top)
    return (
        f", with a logistic term w·x(τ) over {len(weights)} covariates closed form in τ "
        f"(`stream_app/model/covariates.py`; largest weights: {named})"
    )


def _floor_note(metrics: dict[str, Any]) -> str:
    """A sentence where the shipped model's head weight is at its floor (or the origins' were)."""
    floors = metrics["configuration"]["head_weight_at_floor"]
    if not floors["final"] and not any(floors["origins"]):
        return ""
    return (
        f"\nThe weight of the sequence head is held at its floor (it adds nothing there) in: "
        f"shipped model {'yes' if floors['final'] else 'no'}, origins {floors['origins']}. "
        f"Where the shipped model's is, it serves its covariate term alone: read the "
        f"`model_covariates_only` rows for it.\n"
    )


def _training(metrics: dict[str, Any]) -> str:
    split, data = metrics["split"], metrics["data"]
    note = next((v for k, v in DATA_NOTES.items() if k in data["path"]), "A canonical event log.")
    return f"""## Data and training
- {note} File `{data["path"]}` ({data["events"]} events, {data["users"]} users).
- Returns are: {data.get("return_types", "every type but cancel")}.
- Targets: the hazard after each event is for the next *visit* (a return-type event ≥ 1 h after
  the previous event); events inside a visit and cancellations end a gap as censored. The
  likelihood is a per-user mean, then a mean over users (heavy users do not dominate), plus
  return-within-H cross-entropy on exactly the evaluated label at train cutoffs every
  {split["every_days"]:g} days from {split["first_train_cutoff"][:10]}.
- The shipped model is trained through the latest labelled cutoff
  {split["latest_labelled_cutoff"][:10]} (events before it; labels of cutoffs whose window closes
  by it), early-stopped and calibrated there. Data fingerprint: `{data["fingerprint"]}`."""


def write_model_card(out_dir: Path, metrics: dict[str, Any]) -> None:
    """Write MODEL_CARD.md beside the ONNX graphs."""
    missed = [k for k, t in metrics["targets"].items() if not t["met"]]
    verdict = (
        "All acceptance targets are met at every test cutoff."
        if not missed
        else f"Targets **missed**: {', '.join(missed)} (numbers above)."
    )
    key = next((k for k in DATA_NOTES if k in metrics["data"]["path"]), "")
    log = EXPERIMENTS_DIR / f"experiments_{key}.md"
    experiments = log.read_text() if key and log.exists() else ""
    tests = ", ".join(t[:10] for t in metrics["split"]["test_cutoffs"])
    text = f"""# Model card: decay-stream interest-decay LSTM `{metrics["model_version"]}`

{_what(metrics)}

{_training(metrics)}

## Rolling-origin test metrics (test cutoffs {tests}; a model per cutoff, see EVALUATION.md)
{metrics_table(metrics)}

{comparison_text(metrics)}

{targets_table(metrics)}

{verdict}

## Does the sequence part add? (ablation: the same fit without a part)
{ablation_text(metrics)}

## What each fit chose
{fits_table(metrics)}
{_floor_note(metrics)}
## By segment
{segment_table(metrics)}

{experiments}
## Limits
- The covariate term is linear in its covariates. Counts over fixed windows (events in the last
  30 / 90 days, which the baselines use) are not among them: they are not closed form in
  silence, so the time-decayed counts stand in for them. The gradient-boosting baseline's
  interactions are not in the family.
- The term and the validation map are fitted once per training run; the worker's optional online
  intercept correction (`DECAY_CALIBRATION_ONLINE`) moves the intercept only.
- Time-of-day/weekday features are computed in UTC.
- Return rates drift by calendar time (the held-out Online Retail months are the Christmas
  peak); the validation map is fitted on the latest labelled cutoff, refit it on recent data.
- The category head ranks hashed buckets: unrelated categories that share a bucket are merged.
- Reproduce: `{metrics.get("reproduce", REPRODUCE)}` (deterministic for a fixed seed and
  torch build, 1 CPU thread).
"""
    (out_dir / "MODEL_CARD.md").write_text(text)
