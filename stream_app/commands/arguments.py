"""Arguments of the offline commands (score, policy simulate), shared by the CLI and `-m` runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from stream_app.data.eventlogs import FORMATS
from stream_app.paths import DEFAULT_MODEL_PATH, DEFAULT_POLICY_PATH

#: Partitions `policy simulate` splits the coupon budget into by default (the worker's default).
SIMULATE_PARTITIONS = 8


def add_score_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of `score`."""
    p.add_argument("events", type=Path, help="event log: CSV (.xz ok) or Parquet")
    p.add_argument("--cutoff", required=True, help="ISO 8601 time (naive = UTC) or Unix seconds")
    p.add_argument("--format", choices=FORMATS, default="auto", dest="fmt")
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH, help="ONNX step graph")
    p.add_argument("--horizon-days", type=float, default=None, help="default: the model's")
    p.add_argument("--out", type=Path, default=None, help="output CSV (default: stdout)")
    p.add_argument("--cpu", action="store_true", help="do not try CUDA")
    return p


def positive_int(text: str) -> int:
    """An integer of at least 1 (argparse type)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_simulate_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of `policy simulate`."""
    p.add_argument("--policy", type=Path, default=DEFAULT_POLICY_PATH, help="policy TOML")
    p.add_argument("--data", default="online-retail", help="dataset name or CSV path")
    p.add_argument("--days", type=float, default=None, help="simulate the first N days")
    p.add_argument("--limit", type=int, default=None, help="at most N events")
    p.add_argument(
        "--silence-days",
        type=float,
        default=0.0,
        help="after the last event, let every user stay silent this many days (alerts fire)",
    )
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH, help="ONNX step graph")
    p.add_argument(
        "--partitions",
        type=positive_int,
        default=SIMULATE_PARTITIONS,
        help="partitions of the worker: one coupon bucket each, with an equal share of the budget",
    )
    return p
