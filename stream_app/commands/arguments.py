"""Arguments of the offline commands (score, policy simulate), shared by the CLI and `-m` runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from stream_app.data.eventlogs import FORMATS
from stream_app.data.sources import DATASETS
from stream_app.model.eventlog import parse_timestamp
from stream_app.paths import DEFAULT_MODEL_PATH, DEFAULT_POLICY_PATH, SHARED_DATA_DIR

#: Partitions `policy simulate` splits the coupon budget into by default (the worker's default).
SIMULATE_PARTITIONS = 8


def add_score_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of `score`."""
    p.add_argument(
        "events",
        type=log_file,
        help="event log: CSV (.xz ok) or Parquet, or a dataset name (as replay's SOURCE)",
    )
    p.add_argument("--cutoff", required=True, help="ISO 8601 time (naive = UTC) or Unix seconds")
    p.add_argument("--format", choices=FORMATS, default="auto", dest="fmt")
    p.add_argument(
        "--model",
        type=existing_file,
        default=None,
        help="ONNX step graph (default: the packaged model trained on this kind of log:"
        " purchase model for order logs, clickstream model for browsing logs)",
    )
    p.add_argument("--horizon-days", type=positive_float, default=None, help="default: the model's")
    p.add_argument("--out", type=Path, default=None, help="output file (default: stdout)")
    p.add_argument("--json", action="store_true", help="JSON lines instead of CSV")
    p.add_argument("--cpu", action="store_true", help="do not try CUDA")
    return p


def positive_float(text: str) -> float:
    """A number above 0 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one `error:` line (exit 2), like every other refusal."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def existing_file(text: str) -> Path:
    """A path to a file that exists (argparse type)."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: not a file")
    return path


def log_file(text: str) -> Path:
    """The file of a dataset name (beside a checkout), or a path to a file (argparse type)."""
    named = DATASETS.get(text)
    if named is None:
        return existing_file(text)
    path = SHARED_DATA_DIR / named.relative_path
    if not path.is_file():
        raise argparse.ArgumentTypeError(
            f"{text}: {path} not found (the shared datasets sit beside a checkout of the"
            " repository; elsewhere give the file's path)"
        )
    return path


def dataset(text: str) -> str:
    """A dataset name or the path of a file (argparse type)."""
    if text in DATASETS:
        return text
    if Path(text).is_file():
        return text
    known = ", ".join(DATASETS)
    raise argparse.ArgumentTypeError(f"{text}: neither a dataset name ({known}) nor a file")


def non_negative_float(text: str) -> float:
    """A number of at least 0 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be at least 0, got {text}")
    return value


def positive_int(text: str) -> int:
    """An integer of at least 1 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def point_in_time(text: str) -> float:
    """Unix seconds from ISO 8601 (a naive time is UTC) or seconds (argparse type)."""
    try:
        return parse_timestamp(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {text!r} (ISO 8601, e.g. 2011-05-01)"
        ) from None


def add_simulate_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of `policy simulate`."""
    p.add_argument("--policy", type=existing_file, default=DEFAULT_POLICY_PATH, help="policy TOML")
    p.add_argument("--data", type=dataset, default="online-retail", help="dataset name or CSV path")
    p.add_argument("--days", type=positive_float, default=None, help="simulate the first N days")
    p.add_argument("--limit", type=positive_int, default=None, help="at most N events")
    p.add_argument(
        "--silence-days",
        type=non_negative_float,
        default=0.0,
        help="after the last event, let every user stay silent this many days (alerts fire)",
    )
    p.add_argument(
        "--model", type=existing_file, default=DEFAULT_MODEL_PATH, help="ONNX step graph"
    )
    p.add_argument(
        "--score-from",
        type=point_in_time,
        default=None,
        help="score only alerts from this time on (ISO 8601; the events before warm the states"
        " up): with a model trained before it, the alert tables are out of sample",
    )
    p.add_argument(
        "--partitions",
        type=positive_int,
        default=SIMULATE_PARTITIONS,
        help="partitions of the worker: one coupon bucket each, with an equal share of the budget",
    )
    return p
