"""MODEL_CARD.md, written from metrics.json so the card always matches the artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from export.report import REPRODUCE, metrics_table, targets_table


def write_model_card(out_dir: Path, metrics: dict[str, Any]) -> None:
    """Write MODEL_CARD.md beside the ONNX graphs."""
    split, data, cfg = metrics["split"], metrics["data"], metrics["model_config"]
    cal = metrics["calibration"]
    missed = [k for k, t in metrics["targets"].items() if not t["met"]]
    verdict = (
        "All acceptance targets are met on the test period."
        if not missed
        else f"Targets **missed** on the test period: {', '.join(missed)} (numbers below)."
    )
    text = f"""# Model card: decay-stream interest-decay LSTM `{metrics["model_version"]}`

## What it is
An LSTM over a user's event sequence (event type and hashed category embeddings, log time since
the previous event, time of day / day of week in UTC, log amount, log event count) whose head is
a mixture of {cfg["components"]} exponential kernels g_r(τ) = μ_r + α_r·e^(−β_r·τ), each with
its own category distribution over {metrics["contract"]["category_buckets"]} hashed buckets.
P(any event within H | silent τ) = 1 − exp(−[Λ(τ+H) − Λ(τ)]) is closed form
(`stream_app/model/survival.py`), then recalibrated by σ(a·logit(P) + b) with
a = {cal["a"]:.4f}, b = {cal["b"]:.4f} fitted on validation only (a > 0 keeps P monotone in τ).
Hidden size {cfg["hidden_size"]}; horizon H = {float(split["horizon_days"]):g} days.

Files: `decay_step.onnx` (one event: features + h, c → new h, c + μ, α, β, π),
`decay_sequence.onnx` (whole sequences, same weights), `metrics.json`, `EVALUATION.md`.
Both graphs carry the feature contract, version, horizon, buckets, calibration and the training
data fingerprint in their ONNX metadata; `stream_app.model.runtime` checks it at load.

## Serving contract
Per event, `stream_app.model.features.encode_events(events, previous)` gives `event_type` int64
(B,), `category_bucket` int64 (B,) and `numeric` float32 (B, {len(metrics["contract"]["numeric_features"])}); with the user's
stored `h`, `c` float32 (B, {cfg["hidden_size"]}) (zeros for a new user) `ModelRuntime.step` returns new `h`, `c`
and `mu`, `alpha`, `beta` (B, R), `pi` (B, R, K). The worker keeps per user: `h`, `c`, the head
parameters, and `PreviousEvent(ts_seconds, events_total)` of the last event.

## Data and periods
- Online Retail (UCI, Daqing Chen; CC BY 4.0), file `{data["path"]}`, customers with an id only;
  one invoice = one `purchase` event (`C…` invoices = `cancel`), amount = invoice total,
  category = product-type word of the description (most frequent in the invoice).
- Training: events before {split["val_cutoff"]}; likelihood over all inner gaps with the last
  gap censored there, plus return-within-H cross-entropy at {len(split["train_cutoffs"])}
  fortnightly cutoffs ({data["train_examples"]} user-cutoff examples).
- Validation: cutoff {split["val_cutoff"]} (early stopping, baseline tuning, calibration).
- Test: cutoff {split["test_cutoff"]}, label window of H days ({data["test_users"]} users).
- Data fingerprint (sha256 of file + split): `{data["fingerprint"]}`.

## Test metrics
{metrics_table(metrics)}

{targets_table(metrics)}

{verdict}

## Limits
- Trained on purchases and cancellations only (one retailer, UK-centred B2B-heavy customers).
  Other event types (view, click, cart, fav) have embeddings that were never trained: they enter
  the model as untrained type vectors. Until a model is trained on typed data (e.g. the Taobao
  adapter, `--data taobao`), feed the worker purchase-like events or expect uncalibrated output.
- Time-of-day/weekday features are computed in UTC.
- The held-out months (Oct–Dec) are the Christmas peak; return rates there differ from the
  training months, so calibration may drift; refit the Platt map on recent data if it does.
- The category head ranks hashed buckets: unrelated categories that share a bucket are merged.
- Reproduce: `{REPRODUCE}` (deterministic for a fixed seed and torch build, 2 CPU threads).
"""
    (out_dir / "MODEL_CARD.md").write_text(text)
