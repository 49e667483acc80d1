"""`python -m export train …`: train, export, evaluate and report in one command.

Dataset names are those of every other command (`taobao-814`, `tmall-709`, `online-retail`;
the older `taobao` and `tmall` still work). The artifacts go to a new folder under `runs/` by
default; a folder that already holds a model (the served one in `models/` included) is refused
unless `--overwrite` is given. Bad arguments are one `error:` line, exit 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from export.choices import ConfigurationError
from export.cutoffs import SplitError
from export.model import ModelConfig
from export.pipeline import DATASETS, DataSpec, RunConfig, run
from export.train import TrainConfig
from stream_app.data.eventlogs import FORMATS

#: The dataset names of `replay`, `demo` and `policy simulate` (stream_app.data.sources), and
#: the older names of this command, onto its DATASETS.
DATASET_NAMES = {
    "online-retail": "online-retail",
    "taobao-814": "taobao",
    "tmall-709": "tmall",
    "taobao": "taobao",
    "tmall": "tmall",
}
USAGE_ERROR = 2
#: A folder holding this file holds a model; it is replaced only with --overwrite.
ARTIFACT = "decay_step.onnx"


def default_out() -> Path:
    """A new folder per run: `runs/export-<UTC time>`."""
    return Path("runs") / f"export-{datetime.now(tz=UTC).strftime('%Y%m%dT%H%M%SZ')}"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m export")
    p.add_argument(
        "--version", action="version", version=f"decay-stream export {version('decay-stream')}"
    )
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="rolling-origin evaluation + shipped model + ONNX + report")
    _data_options(t)
    t.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for the artifacts (default: a new runs/export-<time>)",
    )
    t.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the model in --out if it holds one (e.g. the served models/)",
    )
    t.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    t.add_argument("--patience", type=int, default=TrainConfig.patience)
    t.add_argument("--seed", type=int, default=TrainConfig.seed)
    t.add_argument("--aux-weight", type=float, default=TrainConfig.aux_weight)
    t.add_argument("--category-weight", type=float, default=TrainConfig.category_weight)
    t.add_argument("--residual", action="store_true", help="train the head on what the "
                   "covariate term misses (the term a fixed offset of its return loss)")  # fmt: skip
    t.add_argument("--hidden-size", type=int, default=ModelConfig.hidden_size)
    t.add_argument("--components", type=int, default=ModelConfig.components)
    t.add_argument("--kernel-shapes", default=None, help="gamma shape per component, e.g. 0,1,2,4")
    t.add_argument("--max-users", type=int, default=None, help="first N users only (smoke runs)")
    t.add_argument("--no-report", action="store_true")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    s = sub.add_parser("standing", help="the README's table of the models' standing")
    s.add_argument("--write", action="store_true", help="rewrite the README's section")
    g = sub.add_parser("signal", help="which per-event facts add to the covariate term, by "
                       "validation log-loss at each rolling origin")  # fmt: skip
    _data_options(g)
    return p


def _data_options(p: argparse.ArgumentParser) -> None:
    """The options that pick a log and its rolling-origin cutoffs (`train`, `signal`)."""
    names = ", ".join(name for name in DATASET_NAMES if "-" in name)
    p.add_argument("--data", default="online-retail", help=f"{names} or a log path")
    p.add_argument("--format", choices=FORMATS, default="auto", dest="fmt")
    p.add_argument("--first-train-cutoff", default=None, help="default: first event + H")
    p.add_argument("--test-cutoffs", default=None, help="comma-separated; default: the last "
                   "--n-tests labelled cutoffs, H apart")  # fmt: skip
    p.add_argument("--n-tests", type=int, default=3)
    p.add_argument("--returns", default=None, help="types that count as a return, e.g. purchase")
    p.add_argument("--horizon-days", type=float, default=None, help="own data: default 30")
    p.add_argument("--every-days", type=float, default=None, help="spacing of train cutoffs")


def _data_spec(args: argparse.Namespace) -> DataSpec:
    if args.data in DATASET_NAMES:
        spec = DATASETS[DATASET_NAMES[args.data]]
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


def refuse(message: str) -> int:
    """One `error:` line on stderr, exit code 2."""
    print(f"error: {message}", file=sys.stderr)
    return USAGE_ERROR


def out_problem(out: Path, overwrite: bool) -> str | None:
    """Why the artifacts may not go to `out` (None: they may)."""
    if out.exists() and not out.is_dir():
        return f"--out {out}: a file, not a folder"
    if (out / ARTIFACT).exists() and not overwrite:
        return (
            f"--out {out} already holds a model ({ARTIFACT}): give a new folder,"
            " or --overwrite to replace it"
        )
    return None


def _signal(args: argparse.Namespace) -> int:
    """`signal`: the probe's table on stdout."""
    from export.dataset import encode_log
    from export.pipeline import plan_of
    from export.signal import probe, table
    from stream_app.data.eventlogs import read_log

    spec = _data_spec(args)
    if not spec.path.is_file():
        return refuse(f"--data {args.data}: neither a dataset name nor a file")
    event_log = read_log(spec.path, spec.fmt)
    try:
        plan = plan_of(spec, event_log)
    except SplitError as exc:
        return refuse(f"cannot split {spec.path.name}: {exc}")
    table(probe(encode_log(event_log, spec.return_types), plan))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = _parser().parse_args(argv)
    if args.command == "standing":
        from export.standing import main as standing

        return standing(args.write)
    if args.command == "signal":
        return _signal(args)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out = args.out if args.out is not None else default_out()
    problem = out_problem(out, args.overwrite)
    if problem is not None:
        return refuse(problem)
    cfg = RunConfig(
        data=_data_spec(args),
        out_dir=out,
        model=_model_config(args),
        train=TrainConfig(
            epochs=args.epochs,
            patience=args.patience,
            seed=args.seed,
            aux_weight=args.aux_weight,
            category_weight=args.category_weight,
            residual=args.residual,
        ),
        max_users=args.max_users,
        report=not args.no_report,
        progress=not args.quiet,
    )
    if not cfg.data.path.is_file():
        names = ", ".join(name for name in DATASET_NAMES if "-" in name)
        return refuse(f"--data {args.data}: neither a dataset name ({names}) nor a file")
    try:
        metrics = run(cfg, reproduce=" ".join(["python -m export", *(argv or sys.argv[1:])]))
    except SplitError as exc:
        return refuse(f"cannot split {cfg.data.path.name}: {exc}")
    except ConfigurationError as exc:
        return refuse(str(exc))
    print(f"artifacts in {out}", file=sys.stderr)
    print(json.dumps({"test_mean": metrics["test"]["mean"], "comparison": metrics["comparison"],
                      "ablation": metrics["ablation"], "targets": metrics["targets"]},
                     indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
