"""`python -m export train …`: train, export, evaluate and report in one command."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

from export.cutoffs import SplitError
from export.model import ModelConfig
from export.pipeline import DATASETS, DataSpec, RunConfig, run
from export.train import TrainConfig
from stream_app.data.eventlogs import FORMATS


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m export")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="rolling-origin evaluation + shipped model + ONNX + report")
    t.add_argument("--data", default="online-retail", help=f"{sorted(DATASETS)} or a log path")
    t.add_argument("--format", choices=FORMATS, default="auto", dest="fmt")
    t.add_argument("--out", type=Path, default=Path("models"))
    t.add_argument("--first-train-cutoff", default=None, help="default: first event + H")
    t.add_argument("--test-cutoffs", default=None, help="comma-separated; default: the last "
                   "--n-tests labelled cutoffs, H apart")  # fmt: skip
    t.add_argument("--n-tests", type=int, default=3)
    t.add_argument("--returns", default=None, help="types that count as a return, e.g. purchase")
    t.add_argument("--horizon-days", type=float, default=None, help="own data: default 30")
    t.add_argument("--every-days", type=float, default=None, help="spacing of train cutoffs")
    t.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    t.add_argument("--patience", type=int, default=TrainConfig.patience)
    t.add_argument("--seed", type=int, default=TrainConfig.seed)
    t.add_argument("--aux-weight", type=float, default=TrainConfig.aux_weight)
    t.add_argument("--category-weight", type=float, default=TrainConfig.category_weight)
    t.add_argument("--hidden-size", type=int, default=ModelConfig.hidden_size)
    t.add_argument("--components", type=int, default=ModelConfig.components)
    t.add_argument("--kernel-shapes", default=None, help="gamma shape per component, e.g. 0,1,2,4")
    t.add_argument("--max-users", type=int, default=None, help="first N users only (smoke runs)")
    t.add_argument("--no-report", action="store_true")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _data_spec(args: argparse.Namespace) -> DataSpec:
    if args.data in DATASETS:
        spec = DATASETS[args.data]
    else:
        horizon = 30.0 if args.horizon_days is None else args.horizon_days
        spec = DataSpec(Path(args.data), args.fmt, horizon, horizon / 2)
    overrides: dict[str, object] = {"n_tests": args.n_tests}
    for name in ("horizon_days", "every_days"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    if args.first_train_cutoff:
        overrides["first_train_cutoff"] = args.first_train_cutoff
    if args.returns:
        overrides["return_types"] = tuple(args.returns.split(","))
    if args.test_cutoffs:
        overrides["test_cutoffs"] = tuple(args.test_cutoffs.split(","))
    return replace(spec, **overrides)  # type: ignore[arg-type]


def _model_config(args: argparse.Namespace) -> ModelConfig:
    shapes = ModelConfig.kernel_shapes
    if args.kernel_shapes is not None:
        shapes = tuple(int(k) for k in args.kernel_shapes.split(","))
    return ModelConfig(hidden_size=args.hidden_size, components=args.components,
                       kernel_shapes=shapes)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = RunConfig(
        data=_data_spec(args),
        out_dir=args.out,
        model=_model_config(args),
        train=TrainConfig(
            epochs=args.epochs,
            patience=args.patience,
            seed=args.seed,
            aux_weight=args.aux_weight,
            category_weight=args.category_weight,
        ),
        max_users=args.max_users,
        report=not args.no_report,
        progress=not args.quiet,
    )
    if not cfg.data.path.exists():
        raise SystemExit(f"{cfg.data.path}: no such file")
    try:
        metrics = run(cfg, reproduce=" ".join(["python -m export", *(argv or sys.argv[1:])]))
    except SplitError as exc:
        raise SystemExit(f"cannot split {cfg.data.path.name}: {exc}") from None
    print(json.dumps({"test_mean": metrics["test"]["mean"], "comparison": metrics["comparison"],
                      "targets": metrics["targets"]}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
