"""`python -m export train …`: train, export, evaluate and report in one command."""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace
from pathlib import Path

from export.model import ModelConfig
from export.pipeline import DATASETS, DataSpec, RunConfig, run
from export.train import TrainConfig
from stream_app.data.eventlogs import FORMATS


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m export")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train + export ONNX + evaluate + report")
    t.add_argument("--data", default="online-retail", help=f"{sorted(DATASETS)} or a log path")
    t.add_argument("--format", choices=FORMATS, default="auto", dest="fmt")
    t.add_argument("--out", type=Path, default=Path("models"))
    t.add_argument("--first-train-cutoff", default=None)
    t.add_argument("--val-cutoff", default=None)
    t.add_argument("--test-cutoff", default=None)
    t.add_argument("--horizon-days", type=float, default=None)
    t.add_argument("--every-days", type=float, default=None, help="spacing of train cutoffs")
    t.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    t.add_argument("--patience", type=int, default=TrainConfig.patience)
    t.add_argument("--seed", type=int, default=TrainConfig.seed)
    t.add_argument("--aux-weight", type=float, default=TrainConfig.aux_weight)
    t.add_argument("--category-weight", type=float, default=TrainConfig.category_weight)
    t.add_argument("--hidden-size", type=int, default=ModelConfig.hidden_size)
    t.add_argument("--components", type=int, default=ModelConfig.components)
    t.add_argument("--max-users", type=int, default=None, help="first N users only (smoke runs)")
    t.add_argument("--no-report", action="store_true")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _data_spec(args: argparse.Namespace) -> DataSpec:
    if args.data in DATASETS:
        spec = DATASETS[args.data]
    else:
        missing = [n for n in ("val_cutoff", "test_cutoff", "first_train_cutoff", "horizon_days")
                   if getattr(args, n) is None]  # fmt: skip
        if missing:
            raise SystemExit(
                f"own data needs --{', --'.join(m.replace('_', '-') for m in missing)}"
            )
        spec = DataSpec(Path(args.data), args.fmt, "", "", "", 0.0, 7.0)
    overrides = {
        k: getattr(args, k)
        for k in ("first_train_cutoff", "val_cutoff", "test_cutoff", "horizon_days", "every_days")
        if getattr(args, k) is not None
    }
    return replace(spec, **overrides)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = RunConfig(
        data=_data_spec(args),
        out_dir=args.out,
        model=ModelConfig(hidden_size=args.hidden_size, components=args.components),
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
    metrics = run(cfg)
    print(json.dumps({"test": metrics["test"], "targets": metrics["targets"]}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
