"""`decay-stream score`: P(any event within H after a cutoff) per user, through the ONNX step graph.

Each user's events before the cutoff go through the worker's code path
(`stream_app.model.scoring`); the scores are written as CSV.
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from stream_app.data.eventlogs import FORMATS, read_log
from stream_app.model.eventlog import parse_timestamp
from stream_app.model.runtime import ModelRuntime
from stream_app.model.scoring import Scores, score
from stream_app.paths import DEFAULT_MODEL_PATH

log = logging.getLogger(__name__)


def write_scores(scores: Scores, path: Path | None) -> None:
    """CSV `user_id,p_return` to a file, or stdout when path is None."""
    fh = sys.stdout if path is None else path.open("w", encoding="utf-8", newline="")
    try:
        writer = csv.writer(fh)
        writer.writerow(("user_id", "p_return"))
        for user, p in sorted(zip(scores.user_id, scores.p_return, strict=True)):
            writer.writerow((user, f"{p:.6f}"))
    finally:
        if path is not None:
            fh.close()


def parse_cutoff(value: str) -> float:
    """Cutoff as Unix seconds (ISO 8601 or seconds; a naive time is UTC)."""
    return parse_timestamp(value)


def build_parser() -> argparse.ArgumentParser:
    """Arguments of the score command."""
    p = argparse.ArgumentParser(
        prog="score", description=__doc__.splitlines()[0].split(": ", 1)[1] if __doc__ else ""
    )
    p.add_argument("events", type=Path, help="event log: CSV (.xz ok) or Parquet")
    p.add_argument("--cutoff", required=True, help="ISO 8601 time (naive = UTC) or Unix seconds")
    p.add_argument("--format", choices=FORMATS, default="auto", dest="fmt")
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH, help="ONNX step graph")
    p.add_argument("--horizon-days", type=float, default=None, help="default: the model's")
    p.add_argument("--out", type=Path, default=None, help="output CSV (default: stdout)")
    p.add_argument("--cpu", action="store_true", help="do not try CUDA")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point: `decay-stream score` / `python -m stream_app.commands.score`."""
    args = build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    runtime = ModelRuntime(args.model, prefer_cuda=not args.cpu)
    cutoff = parse_cutoff(args.cutoff)
    scores = score(runtime, read_log(args.events, args.fmt), cutoff, args.horizon_days)
    write_scores(scores, args.out)
    when = datetime.fromtimestamp(cutoff, tz=UTC).isoformat()
    log.info("scored %d users at cutoff %s", len(scores.user_id), when)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
