"""The whole run: data → rolling-origin cutoffs → a model per test cutoff (evaluation) →
the shipped model through the latest labelled cutoff → export → report."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from export.choices import check_configuration, check_served, fit_rows
from export.cutoffs import Plan, plan_cutoffs
from export.dataset import EncodedLog, encode_log
from export.evaluate import tune_blend
from export.model import ModelConfig
from export.onnx_export import ExportInfo, export_onnx
from export.rolling import (
    Origin,
    Trained,
    ablation,
    comparisons,
    evaluate_origin,
    mean_rows,
    segments,
    targets,
    train_for,
)
from export.served import score_runtime
from export.train import TrainConfig
from stream_app.data.eventlogs import read_log
from stream_app.model.contract import contract_dict
from stream_app.model.covariates import COVARIATE_NAMES
from stream_app.model.eventlog import EventLog
from stream_app.model.runtime import ModelRuntime
from stream_app.paths import SHARED_DATA_DIR

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataSpec:
    """Where a dataset lives, its horizon and train-cutoff spacing; cutoffs default to the data."""

    path: Path
    fmt: str
    horizon_days: float
    every_days: float
    first_train_cutoff: str = ""  # "" = picked from the data (`export.cutoffs`)
    test_cutoffs: tuple[str, ...] = ()  # () = the last `n_tests` labelled cutoffs
    n_tests: int = 3
    return_types: tuple[str, ...] = ()  # event types that count as a return; () = all but cancel


DATASETS: dict[str, DataSpec] = {
    "online-retail": DataSpec(
        SHARED_DATA_DIR / "online-retail" / "online_retail_2010-12-01_2011-09-30.csv.xz",
        "online-retail", 30.0, 14.0,
    ),
    "taobao": DataSpec(
        SHARED_DATA_DIR / "taobao-userbehavior-814users" / "taobao_userbehavior_head814users.csv.xz",
        "taobao", 1.0, 0.5,
    ),
    "tmall": DataSpec(
        SHARED_DATA_DIR / "tmall-userlog-709users" / "tmall_user_log_head709users.csv.xz",
        "tmall", 7.0, 3.5,
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


def plan_of(spec: DataSpec, log_: EventLog) -> Plan:
    """The rolling-origin cutoffs of a data spec (defaults from the data)."""
    first = parse_time(spec.first_train_cutoff) if spec.first_train_cutoff else None
    tests = tuple(parse_time(t) for t in spec.test_cutoffs)
    n = len(tests) or spec.n_tests
    return plan_cutoffs(log_, spec.horizon_days, spec.every_days, n, first, tests)


def onnx_score_gap(runtime: ModelRuntime, enc: EncodedLog, final: Trained) -> float:
    """Max |p| difference between `score` (ONNX step graph) and torch at the latest cutoff."""
    assert final.scored_val is not None
    served = score_runtime(runtime, enc.log, enc.users[final.val.rows], final.val.cutoff_seconds)
    return float(np.max(np.abs(served - final.stack.predict(final.scored_val))))


def run(cfg: RunConfig, reproduce: str = "") -> dict[str, Any]:
    """Rolling-origin evaluation, then the shipped model through the latest labelled cutoff."""
    event_log = first_users(read_log(cfg.data.path, cfg.data.fmt), cfg.max_users)
    plan = plan_of(cfg.data, event_log)
    enc = encode_log(event_log, cfg.data.return_types)
    fp = fingerprint(cfg.data.path, json.dumps([asdict(cfg.data), cfg.max_users], default=str))
    log.info("%d events of %d users; test cutoffs %s", len(enc.log), len(enc.users),
             [t.date().isoformat() for t in plan.test_cutoffs])  # fmt: skip
    origins = [
        evaluate_origin(enc, plan.split_for(t), cfg.model, cfg.train, cfg.progress)
        for t in plan.test_cutoffs
    ]
    final = train_for(enc, plan.final_split(), cfg.model, cfg.train, cfg.progress)
    configuration = check_configuration([o.trained.stack for o in origins], final.stack)
    blend = tune_blend(enc, final.val, final.heads_val)
    log.info("shipped model: category blend %s", asdict(blend))
    info = ExportInfo(f"3.2+{fp[:10]}", plan.horizon_days, final.calibration, fp, blend)
    step_path, _ = export_onnx(final.model, info, cfg.out_dir)
    runtime = ModelRuntime(step_path, prefer_cuda=False)
    check_served(runtime.calibration, runtime.category_blend, final, blend)
    metrics = build_metrics(cfg, plan, enc, origins, final, info)
    metrics["configuration"] = configuration
    metrics["fits"] = fit_rows(origins, final, blend)
    metrics["onnx_score_max_abs_diff"] = onnx_score_gap(runtime, enc, final)
    if reproduce:
        metrics["reproduce"] = reproduce
    (cfg.out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float) + "\n")
    if cfg.report:
        from export.model_card import write_model_card
        from export.report import write_report

        write_report(cfg.out_dir, metrics, origins[-1])
        write_model_card(cfg.out_dir, metrics)
    return metrics


def build_metrics(
    cfg: RunConfig,
    plan: Plan,
    enc: EncodedLog,
    origins: list[Origin],
    final: Trained,
    info: ExportInfo,
) -> dict[str, Any]:
    """metrics.json: per-cutoff and mean test rows, intervals, targets, segments, the artifact."""
    comp = comparisons(origins, cfg.train.seed)
    abl = ablation(origins, cfg.train.seed)
    return {
        "model_version": info.model_version,
        "data": {
            "return_types": list(cfg.data.return_types) or "every type but cancel",
            "path": cfg.data.path.name,
            "fingerprint": info.data_fingerprint,
            "events": len(enc.log),
            "users": len(enc.users),
        },
        "split": {
            "first_train_cutoff": plan.first_train.isoformat(),
            "test_cutoffs": [t.isoformat() for t in plan.test_cutoffs],
            "latest_labelled_cutoff": plan.latest.isoformat(),
            "horizon_days": plan.horizon_days,
            "every_days": plan.every_days,
        },
        "test": {"mean": mean_rows(origins), "by_cutoff": [cutoff_entry(o) for o in origins]},
        "comparison": comp,
        "ablation": abl,
        "targets": targets(origins, comp, abl),
        "segments": segments(enc, origins, comp["best_auc_baseline"]),
        "calibration": {
            "kind": final.stack.kind,
            "fit": final.stack.record(),
            "a": final.calibration.a,
            "b": final.calibration.b,
            "covariates": dict(zip(COVARIATE_NAMES, final.calibration.weights, strict=True))
            if final.calibration.weights
            else {},
            "fitted_at": plan.latest.isoformat(),
        },
        "category_blend": asdict(info.category_blend),
        "model_config": cfg.model.to_dict(),
        "train_config": asdict(cfg.train),
        "history": final.history,
        "contract": contract_dict(),
    }


def cutoff_entry(o: Origin) -> dict[str, Any]:
    """One test cutoff's rows, counts and tuned parameters."""
    return {
        "test_cutoff": o.trained.split.test_cutoff.isoformat(),
        "val_cutoff": o.trained.split.val_cutoff.isoformat(),
        "train_cutoffs": len(o.trained.split.train_cutoffs),
        "test_users": len(o.test.rows),
        "test_positive_rate": float(o.test.label.mean()),
        "return_within_h": o.ev.return_rows,
        "next_category_recall_at_10": o.ev.category_rows,
        "calibration": [o.trained.calibration.a, o.trained.calibration.b],
        "covariate_weights": list(o.trained.calibration.weights),
        "calibration_fit": o.trained.stack.record(),
        "ablation_fits": {name: st.record() for name, st in o.ablations.items()},
        "scored_by": "the exported ONNX step graph through stream_app.model.scoring.score",
        "onnx_score_max_abs_diff": o.score_gap,
        "best_val_logloss": min(h["val_logloss"] for h in o.trained.history),
        "epochs": len(o.trained.history),
        "tuned_parameters": o.ev.params,
    }
