"""The shipped models, scored by `decay-stream score` at their last test cutoff (a period their
training includes), do at least as well as that cutoff's row of their own metrics.json."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from export.dataset import encode_log
from export.labels import cutoff_labels
from export.pipeline import DATASETS, parse_time
from stream_app.commands.score import main as score_main
from stream_app.data.eventlogs import read_log

pytestmark = pytest.mark.model
MODELS = Path(__file__).resolve().parents[2] / "models"
SHIPPED = sorted(p.parent for p in MODELS.glob("**/metrics.json"))
#: Shipped models (by folder under models/) that do worse at their last test cutoff than its
#: metrics.json row (the numbers).
MISSES = {
    ".": "ROC-AUC 0.7453 at 2011-08-31 against its row's 0.7461 (Brier 0.1662 against "
    "0.1686): the shipped model's map, fitted by log-loss on that cutoff's labels (L2 C = 0.01, "
    "head weight 0.12), ranks worse than the origin's model (C = 0.1, head weight 0.28)",
    "clickstream-purchase": "ROC-AUC 0.6735 at 2015-11-03 against its row's 0.6736 (Brier 0.1171 "
    "against 0.1173): the shipped model's map, fitted at that cutoff, holds the head's weight at "
    "its floor (0.001), the origin's map kept 0.028",
}


def _case(p: Path) -> object:
    name = p.relative_to(MODELS).as_posix()
    if name not in MISSES:
        return pytest.param(p, id=name)
    return pytest.param(p, id=name, marks=pytest.mark.xfail(strict=True, reason=MISSES[name]))


def _cases() -> list[object]:
    return [_case(p) for p in SHIPPED]


def _spec(metrics: dict):
    name = next(k for k, s in DATASETS.items() if s.path.name == metrics["data"]["path"])
    spec = DATASETS[name]
    if not spec.path.exists():
        pytest.skip(f"{spec.path} is absent (the shared data sits beside the repository)")
    returns = metrics["data"]["return_types"]
    return spec, tuple(returns) if isinstance(returns, list) else ()


def test_every_shipped_model_is_checked() -> None:
    assert {p.relative_to(MODELS).as_posix() for p in SHIPPED} >= {".", "clickstream", "taobao"}


@pytest.mark.parametrize("model_dir", _cases())
def test_the_shipped_model_scores_as_its_metrics_say(model_dir: Path, tmp_path: Path) -> None:
    metrics = json.loads((model_dir / "metrics.json").read_text())
    spec, returns = _spec(metrics)
    row = metrics["test"]["by_cutoff"][-1]
    cutoff = row["test_cutoff"]
    dest = tmp_path / "scores.csv"
    argv = [str(spec.path), "--format", spec.fmt, "--cutoff", cutoff,
            "--model", str(model_dir / "decay_step.onnx"), "--out", str(dest), "--cpu"]  # fmt: skip
    assert score_main(argv) == 0
    with dest.open() as fh:
        p_by_user = {r["user_id"]: float(r["p_return"]) for r in csv.DictReader(fh)}
    enc = encode_log(read_log(spec.path, spec.fmt), returns)
    labels = cutoff_labels(enc, parse_time(cutoff), float(metrics["split"]["horizon_days"]))
    users = [str(u) for u in enc.users[labels.rows]]
    assert len(users) == row["test_users"] == len(p_by_user)
    p = np.array([p_by_user[u] for u in users])
    reported = row["return_within_h"]["model"]
    auc, brier = roc_auc_score(labels.label, p), brier_score_loss(labels.label, p)
    assert auc >= reported["roc_auc"] - 1e-6, (auc, reported["roc_auc"])
    assert brier <= reported["brier"] + 1e-6, (brier, reported["brier"])
