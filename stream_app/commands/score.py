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

from stream_app.commands.arguments import add_score_arguments
from stream_app.commands.errors import UsageError
from stream_app.data.eventlogs import read_log
from stream_app.model.eventlog import parse_timestamp
from stream_app.model.runtime import ModelRuntime
from stream_app.model.scoring import Scores, score

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
    return add_score_arguments(p)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m stream_app.commands.score`."""
    return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """`decay-stream score` with parsed arguments."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not args.events.exists():
        raise UsageError(f"{args.events}: no such event log")
    runtime = ModelRuntime(args.model, prefer_cuda=not args.cpu)
    try:
        cutoff = parse_cutoff(args.cutoff)
    except ValueError as exc:
        raise UsageError(f"--cutoff {args.cutoff!r}: {exc}") from None
    scores = score(runtime, read_log(args.events, args.fmt), cutoff, args.horizon_days)
    write_scores(scores, args.out)
    when = datetime.fromtimestamp(cutoff, tz=UTC).isoformat()
    log.info("scored %d users at cutoff %s", len(scores.user_id), when)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
