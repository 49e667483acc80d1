"""The covariate term as a fixed offset of the head's training (`TrainConfig(residual=True)`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from export.calibrate import COVARIATE_C_GRID
from export.dataset import encode_log, restrict
from export.labels import cutoff_labels
from export.pipeline import DATASETS, plan_of
from stream_app.data.eventlogs import read_log
from stream_app.model.survival import logit

pytestmark = pytest.mark.model
torch = pytest.importorskip("torch")


def test_the_logit_of_p_is_read_from_the_hazard_without_losing_precision() -> None:
    from export.objective import return_logit

    lam = torch.tensor([1e-6, 1e-3, 0.1, 1.0, 5.0, 30.0], dtype=torch.float64)
    expected = torch.log(torch.expm1(lam))  # P / (1 − P) = e^Λ − 1 for P = 1 − e^(−Λ)
    assert torch.allclose(return_logit(lam), expected, rtol=1e-9, atol=1e-9)
    big = return_logit(torch.tensor([200.0]))  # no overflow where e^Λ would in float32
    assert torch.isfinite(big).all() and float(big) == pytest.approx(200.0)


def _split(retail_fixture: Path):
    spec = replace(DATASETS["online-retail"], path=retail_fixture)
    log_ = read_log(retail_fixture, "online-retail")
    plan = plan_of(spec, log_)
    return encode_log(log_), plan.split_for(plan.test_cutoffs[0])


def test_the_offsets_are_the_covariate_term_of_the_training_cutoffs(retail_fixture: Path) -> None:
    from export.residual import fit_offsets

    enc, split = _split(retail_fixture)
    train = restrict(enc, split.val_cutoff.timestamp())
    aux = [cutoff_labels(train, c, split.horizon_days) for c in split.train_cutoffs]
    val = cutoff_labels(enc, split.val_cutoff, split.horizon_days)
    off = fit_offsets(train, aux, enc, val)
    assert off.c in COVARIATE_C_GRID
    assert [len(o) for o in off.train] == [len(lbl.rows) for lbl in aux]
    assert len(off.val) == len(val.rows)
    # fitted on the training labels: positives get a higher term than negatives there
    pooled = np.concatenate(off.train)
    label = np.concatenate([lbl.label for lbl in aux])
    assert pooled[label].mean() > pooled[~label].mean()


def test_residual_training_early_stops_on_the_offset_map(retail_fixture: Path) -> None:
    from export.model import ModelConfig
    from export.residual import fit_offsets
    from export.train import TrainConfig, heads_at_cutoff, predict_return, train_model

    enc, split = _split(retail_fixture)
    tcfg = TrainConfig(epochs=2, patience=2, residual=True)
    model, history = train_model(enc, split, ModelConfig(hidden_size=8, components=3), tcfg,
                                 progress=False)  # fmt: skip
    train = restrict(enc, split.val_cutoff.timestamp())
    aux = [cutoff_labels(train, c, split.horizon_days) for c in split.train_cutoffs]
    val = cutoff_labels(enc, split.val_cutoff, split.horizon_days)
    off = fit_offsets(train, aux, enc, val)
    p_raw = predict_return(heads_at_cutoff(model, enc, val), val.tau_days, split.horizon_days)
    y = val.label

    def loss(a: float, b: float) -> float:
        p = np.clip(1.0 / (1.0 + np.exp(-(a * logit(p_raw) + off.val + b))), 1e-6, 1 - 1e-6)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))

    # the kept model, read through its epoch's trained (a, b), is that epoch's recorded loss
    assert all(h["residual_a"] > 0 for h in history)
    assert any(loss(h["residual_a"], h["residual_b"]) == pytest.approx(h["val_logloss"], abs=1e-9)
               for h in history)  # fmt: skip
