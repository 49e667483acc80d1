"""The whole training run: data → split → train → calibrate → export → evaluate → report."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from export.calibrate import fit_platt
from export.dataset import encode_log
from export.evaluate import Evaluation, evaluate, targets
from export.labels import Split, cutoff_labels, make_split
from export.model import ModelConfig
from export.onnx_export import ExportInfo, export_onnx
from export.train import TrainConfig, heads_at_cutoff, predict_return, train_model
from stream_app.data.eventlogs import read_log
from stream_app.model.contract import contract_dict
from stream_app.model.eventlog import EventLog
from stream_app.model.runtime import ModelRuntime
from stream_app.model.scoring import score
from stream_app.paths import SHARED_DATA_DIR

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataSpec:
    """Where a dataset lives and its default calendar split."""

    path: Path
    fmt: str
    first_train_cutoff: str
    val_cutoff: str
    test_cutoff: str
    horizon_days: float
    every_days: float


DATASETS: dict[str, DataSpec] = {
    "online-retail": DataSpec(
        SHARED_DATA_DIR / "online-retail" / "online_retail_2010-12-01_2011-09-30.csv.xz",
        "online-retail", "2011-01-01", "2011-08-02", "2011-09-01", 30.0, 14.0,
    ),
    "taobao": DataSpec(
        SHARED_DATA_DIR / "taobao-userbehavior-814users" / "taobao_userbehavior_head814users.csv.xz",
        "taobao", "2017-11-26T16:00:00+00:00", "2017-11-30T16:00:00+00:00",
        "2017-12-01T16:00:00+00:00", 1.0, 0.5,
    ),
}  # fmt: skip


@dataclass(frozen=True)
class RunConfig:
    """One training run."""

    data: DataSpec
    out_dir: Path
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    max_users: int | None = None
    report: bool = True
    progress: bool = True


def parse_time(value: str) -> datetime:
    """ISO date/time; naive means UTC."""
    ts = datetime.fromisoformat(value)
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def fingerprint(path: Path, extra: str) -> str:
    """sha256 of the data file bytes plus the split description."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    digest.update(extra.encode())
    return digest.hexdigest()


def first_users(log_: EventLog, n: int | None) -> EventLog:
    """The events of the first n users by id (a deterministic small slice)."""
    if n is None:
        return log_
    users = np.unique(log_.user_id.astype(str))[:n]
    return log_.take(np.isin(log_.user_id.astype(str), users))


def split_of(spec: DataSpec) -> Split:
    """The calendar split of a data spec."""
    return make_split(
        parse_time(spec.first_train_cutoff),
        parse_time(spec.val_cutoff),
        parse_time(spec.test_cutoff),
        spec.horizon_days,
        spec.every_days,
    )


def onnx_score_gap(step_path: Path, log_: EventLog, split: Split, ev: Evaluation) -> float:
    """Max |p| difference between `score` (ONNX step graph) and the torch evaluation."""
    runtime = ModelRuntime(step_path, prefer_cuda=False)
    scores = score(runtime, log_, split.test_cutoff.timestamp())
    return float(np.max(np.abs(scores.p_return - ev.test_prob["model"])))


def run(cfg: RunConfig) -> dict[str, Any]:
    """Train, export and evaluate; write artifacts to `cfg.out_dir`; return metrics."""
    split = split_of(cfg.data)
    event_log = first_users(read_log(cfg.data.path, cfg.data.fmt), cfg.max_users)
    enc = encode_log(event_log)
    fp = fingerprint(cfg.data.path, json.dumps([asdict(cfg.data), cfg.max_users], default=str))
    log.info("%d events of %d users; val cutoff %s", len(enc.log), len(enc.users), split.val_cutoff)
    model, history = train_model(enc, split, cfg.model, cfg.train, cfg.progress)
    horizon = split.horizon_days
    val = cutoff_labels(enc, split.val_cutoff, horizon)
    test = cutoff_labels(enc, split.test_cutoff, horizon)
    heads_val, heads_test = heads_at_cutoff(model, enc, val), heads_at_cutoff(model, enc, test)
    calibration = fit_platt(predict_return(heads_val, val.tau_days, horizon), val.label)
    ev = evaluate(enc, split, heads_val, heads_test, calibration, cfg.train.seed)
    cal = (calibration.a, calibration.b)
    info = ExportInfo(f"2.0+{fp[:10]}", horizon, cal, fp, ev.category_blend)
    step_path, _ = export_onnx(model, info, cfg.out_dir)
    metrics = {
        "model_version": info.model_version,
        "data": {"path": cfg.data.path.name, "fingerprint": fp, **ev.counts},
        "split": {
            "train_cutoffs": [c.isoformat() for c in split.train_cutoffs],
            "val_cutoff": split.val_cutoff.isoformat(),
            "test_cutoff": split.test_cutoff.isoformat(),
            "horizon_days": split.horizon_days,
        },
        "test": {"return_within_h": ev.return_rows, "next_category_recall_at_10": ev.category_rows},
        "targets": targets(ev),
        "tuned_parameters": ev.params,
        "calibration": {"kind": "platt_on_logit", "a": calibration.a, "b": calibration.b},
        "category_blend": asdict(ev.category_blend),
        "onnx_score_max_abs_diff": onnx_score_gap(step_path, enc.log, split, ev),
        "model_config": cfg.model.to_dict(),
        "train_config": asdict(cfg.train),
        "history": history,
        "contract": contract_dict(),
    }
    (cfg.out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float) + "\n")
    if cfg.report:
        from export.model_card import write_model_card
        from export.report import write_report

        write_report(cfg.out_dir, metrics, ev, heads_test, test, calibration)
        write_model_card(cfg.out_dir, metrics)
    return metrics
